"""fit(cache_frozen=True) against the oracle the feature promises to equal: the same fit without the cache (same
seeds, same initial weights). Checked: weights, History, callbacks' batch logs, and that the frozen part really runs
once per sample (a forward hook counts the samples it sees). Arrays, NumpyArrayIterator and DirectoryIterator with
shuffle=True and a seed, a functional model with a frozen branch, validation data; and the clear errors.
"""

import numpy as np
import pytest
import torch

from cnnkit import Sequential
from cnnkit.callbacks import LambdaCallback
from cnnkit.data.export import write_image_folder
from cnnkit.layers import ActivityRegularization
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Concatenate
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Dropout
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Input
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import SpatialDropout2D
from cnnkit.models import Model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.training import frozen
from cnnkit.utils import clear_session
from cnnkit.utils import set_random_seed

SHAPE = (12, 12, 3)


def _sequential(dropout=True):
    """Frozen conv + BatchNormalization + pooling, then (Dropout +) trainable Dense layers."""
    clear_session()
    set_random_seed(0)
    head = [Dropout(0.3)] if dropout else []
    model = Sequential([Conv2D(8, 3, activation="relu", input_shape=SHAPE), BatchNormalization(), MaxPooling2D(),
                        Flatten(), *head, Dense(6, activation="relu"), Dense(3, activation="softmax")])
    for layer in model.layers[:2]:
        layer.trainable = False
    return model


def _count_samples(layer):
    seen = []
    layer.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    return seen


def _fit_both(build, data, **fit_kwargs):
    """Trains a fresh model twice, without the cache and with the default cache_frozen='auto' (which must cache
    here), from the same weights and seeds."""
    runs = []
    for cache_frozen in (False, "auto"):
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        seen = _count_samples(model.layers[0])
        batch_logs = []
        logger = LambdaCallback(on_train_batch_end=lambda batch, logs: batch_logs.append(logs["loss"]))
        set_random_seed(1)
        history = model.fit(*data(), verbose=0, callbacks=[logger], cache_frozen=cache_frozen, **fit_kwargs)
        runs.append({"weights": model.get_weights(), "history": history.history, "seen": sum(seen),
                     "batch_logs": batch_logs, "model": model})
    plain, cached = runs
    for a, b in zip(plain["weights"], cached["weights"]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert plain["history"].keys() == cached["history"].keys()
    for key in plain["history"]:
        np.testing.assert_allclose(cached["history"][key], plain["history"][key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cached["batch_logs"], plain["batch_logs"], rtol=1e-5, atol=1e-6)
    return plain, cached


def test_arrays_shuffled_with_validation_equal_fit_without_cache(rng):
    x = rng.uniform(size=(37, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 37)
    plain, cached = _fit_both(_sequential, lambda: (x, y), batch_size=8, epochs=3, validation_split=0.2)
    train, val = 29, 8  # validation_split=0.2 of 37
    assert plain["seen"] == 3 * (train + val)
    assert cached["seen"] == train + val  # the frozen part ran once per sample
    assert len(plain["history"]["val_loss"]) == 3


def test_sample_weight_and_validation_data_arrays(rng):
    x = rng.uniform(size=(20, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 20)
    sw = rng.uniform(0.5, 2, 20).astype("float32")
    vx, vy = rng.uniform(size=(6, *SHAPE)).astype("float32"), rng.integers(0, 3, 6)
    _, cached = _fit_both(lambda: _sequential(dropout=False), lambda: (x, y), sample_weight=sw, batch_size=6,
                          epochs=2, validation_data=(vx, vy))
    assert cached["seen"] == 20 + 6


def test_numpy_array_iterator_shuffled_with_seed(rng):
    x = rng.uniform(0, 255, (23, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 23)
    generator = ImageDataGenerator(rescale=1 / 255, validation_split=0.25)

    def data():  # a fresh pair of iterators per run: they count their epochs
        return (generator.flow(x, y, batch_size=5, shuffle=True, seed=7, subset="training"),)

    def val():
        return generator.flow(x, y, batch_size=4, shuffle=False, seed=7, subset="validation")

    plain, cached = _fit_both(_sequential, lambda: (*data(), None), epochs=3, validation_data=val())
    n_train = len(data()[0].x)
    assert plain["seen"] == 3 * 23 and cached["seen"] == 23 and 0 < n_train < 23  # training + validation


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (14, *SHAPE), dtype=np.uint8)
    y = np.arange(14) % 3
    folder = tmp_path_factory.mktemp("frozen_images")
    write_image_folder(x, y, folder, class_names=["a", "b", "c"])
    return folder


@pytest.mark.parametrize("workers", [0, 2])
def test_directory_iterator_shuffled_with_seed(image_folder, workers):
    generator = ImageDataGenerator(rescale=1 / 255)

    def data():
        return (generator.flow_from_directory(image_folder, target_size=SHAPE[:2], batch_size=4, class_mode="sparse",
                                              shuffle=True, seed=11, workers=workers), None)

    plain, cached = _fit_both(_sequential, data, epochs=3)
    assert plain["seen"] == 3 * 14 and cached["seen"] == 14


def _computed(model):
    """The names of the layers a sub-model computes (its Inputs left out)."""
    return [node.layer.name for node in model.nodes if node.inputs]


def test_functional_model_with_frozen_branch_and_raw_input(rng):
    """Two inputs: an image through a frozen conv (cached), a vector straight into a trainable Dense (its raw
    value is part of the cut); a trainable conv branch on the image too."""
    def build():
        clear_session()
        set_random_seed(0)
        image, extra = Input(SHAPE), Input((4,))
        frozen_conv = Conv2D(4, 3, activation="relu", name="frozen_conv", trainable=False)
        a = GlobalAveragePooling2D()(frozen_conv(image))
        b = Flatten()(MaxPooling2D()(Conv2D(2, 3, name="trainable_conv")(image)))
        out = Dense(3, activation="softmax")(Concatenate()([a, b, Dense(5)(extra)]))
        model = Model([image, extra], out)
        split = frozen.FrozenSplit(model)
        assert _computed(split.backbone) == ["frozen_conv", "global_average_pooling2d"]
        return model

    x = [rng.uniform(size=(17, *SHAPE)).astype("float32"), rng.uniform(size=(17, 4)).astype("float32")]
    y = rng.integers(0, 3, 17)
    _fit_both(build, lambda: (x, y), batch_size=5, epochs=2)


def test_errors_name_what_cannot_be_cached(rng, image_folder):
    model = _sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.uniform(size=(8, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 8)
    augmented = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True).flow(x, y, batch_size=4)
    with pytest.raises(ValueError, match="random transforms"):
        model.fit(augmented, epochs=1, verbose=0, cache_frozen=True)

    def generator():
        while True:
            yield x[:4], y[:4]
    with pytest.raises(ValueError, match="Python generator"):
        model.fit(generator(), steps_per_epoch=2, verbose=0, cache_frozen=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=4)
    with pytest.raises(ValueError, match="DataLoader"):
        model.fit(loader, verbose=0, cache_frozen=True)

    unfrozen = Sequential([Dense(3, input_shape=(4,), name="first"), Dense(2)])
    unfrozen.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no frozen part to cache: its first layer 'first' has trainable weights"):
        unfrozen.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0, cache_frozen=True)
    unfrozen.trainable = False
    with pytest.raises(ValueError, match="nothing to train"):
        unfrozen.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0, cache_frozen=True)

    dropout_first = Sequential([Dropout(0.5, input_shape=(4,)), Dense(2)])
    dropout_first.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"is random in training \(Dropout"):
        dropout_first.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0, cache_frozen=True)

    class Subclassed(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(2)

        def call(self, inputs, training=False):
            return self.dense(inputs)
    sub = Subclassed()
    sub.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="subclassed model"):
        sub.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0, cache_frozen=True)
    with pytest.raises(TypeError, match="Did you mean 'cache_frozen'"):
        model.fit(x, y, verbose=0, cache_frozn=True)
    with pytest.raises(ValueError, match="cache_frozen must be 'auto', True or False. Received: cache_frozen='yes'"):
        model.fit(x, y, verbose=0, cache_frozen="yes")


def test_trainable_batchnorm_is_not_cached():
    model = Sequential([Dense(4, input_shape=(3,), trainable=False), BatchNormalization(center=False, scale=False),
                        Dense(2)])
    split = frozen.FrozenSplit(model)
    assert _computed(split.backbone) == ["dense"]  # the BN learns statistics: not cached


def test_random_and_loss_adding_layers_are_not_cached_and_fit_equals_fit_without_the_cache(rng):
    """Declared properties decide: a SpatialDropout2D (stochastic) and an ActivityRegularization (input_losses)
    after a frozen conv stay in the trained part, so the loss history equals the plain fit's."""
    x = rng.uniform(size=(12, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 12)
    histories = []
    for cache_frozen in (False, True):
        clear_session()
        set_random_seed(0)
        model = Sequential([Input(SHAPE), Conv2D(4, 3, trainable=False, name="frozen_conv"),
                            ActivityRegularization(l1=0.01, name="activity"), SpatialDropout2D(0.0, name="drop"),
                            GlobalAveragePooling2D(), Dense(3, activation="softmax")])
        if cache_frozen:
            assert _computed(frozen.FrozenSplit(model).backbone) == ["frozen_conv"]
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                                   cache_frozen=cache_frozen).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)


def _backbone_called_in_inference_mode(training):
    """A frozen backbone holding Dropout and BatchNormalization, called as Keras's transfer-learning guide does:
    `backbone(x, training=False)` (or without `training`)."""
    clear_session()
    set_random_seed(0)
    backbone = Sequential([Input(SHAPE), Conv2D(4, 3), Dropout(0.5), BatchNormalization(), MaxPooling2D()],
                          name="backbone")
    backbone.trainable = False
    inputs = Input(SHAPE)
    x = backbone(inputs, training=False) if training is False else backbone(inputs)
    return Model(inputs, Dense(3, activation="softmax")(Flatten()(x)))


def test_a_backbone_called_with_training_false_is_cached_despite_its_dropout(rng):
    """`backbone(x, training=False)` runs in inference mode inside fit, so its Dropout is off and it is cached
    (fit equals fit without the cache); called without it, its Dropout is random in training: refused."""
    x = rng.uniform(size=(12, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 12)
    assert _computed(frozen.FrozenSplit(_backbone_called_in_inference_mode(False)).backbone) == ["backbone", "flatten"]
    _fit_both(lambda: _backbone_called_in_inference_mode(False), lambda: (x, y), batch_size=4, epochs=2)
    with pytest.raises(ValueError, match=r"random in training \(Dropout"):
        frozen.FrozenSplit(_backbone_called_in_inference_mode(None))


def test_a_layer_forced_into_training_inside_an_inference_backbone_is_not_cached():
    """Monte Carlo dropout: Dropout(...)(h, training=True) inside a backbone stays random even when the backbone
    is called with training=False, so the backbone is not cached."""
    clear_session()
    inner = Input(SHAPE)
    backbone = Model(inner, Dropout(0.5, name="mc_dropout")(Conv2D(4, 3)(inner), training=True), name="backbone")
    backbone.trainable = False
    inputs = Input(SHAPE)
    model = Model(inputs, Dense(3)(Flatten()(backbone(inputs, training=False))))
    with pytest.raises(ValueError, match=r"random in training \(Dropout 'mc_dropout'\)"):
        frozen.FrozenSplit(model)


def test_validation_generator_runs_through_the_frozen_part(rng):
    """Validation data that cannot be cached (a generator) still works: the frozen part runs on each batch."""
    x = rng.uniform(size=(12, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, 12)

    def val():
        for _ in range(100):
            yield x[:6], y[:6]
    _fit_both(_sequential, lambda: (x, y), batch_size=4, epochs=2, validation_data=val(), validation_steps=1)


def test_distributed_fit_refuses_the_cache(rng, monkeypatch):
    """Cached steps would bypass DistributedDataParallel's gradient averaging: refused before anything runs."""
    from cnnkit.training import distributed  # noqa: PLC0415

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    model = _sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.uniform(size=(8, *SHAPE)).astype("float32")
    with pytest.raises(ValueError, match="distributed training"):
        model.fit(x, rng.integers(0, 3, 8), epochs=1, verbose=0, cache_frozen=True)
