"""Cross-entropies on the output of a softmax / sigmoid compute from its logits, as Keras's (TensorFlow backend) do.

The models are set up so that predictions saturate (logit gaps of 30-40): Keras's losses then differ visibly from
the clipped-probability formula (a confidently wrong sample costs about 40, not -log(1e-7) = 16.1, and keeps its
gradient), so each test fails if cnnkit clips where Keras uses the logits, or the other way round.
"""

import warnings

import numpy as np
import pytest

import cnnkit

X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
LABELS = np.array([1, 0, 2])
KERNEL = np.array([[40.0, 0.0, 0.0], [0.0, 30.0, 0.0]], np.float32)  # sample 0: class 0 at p = 1 - 4e-18
ZERO_BIAS = np.zeros(3, np.float32)


def _head(lib, form):
    """The softmax head in one of the ways Keras code writes it."""
    L = lib.layers
    if form == "dense_activation":
        return [L.Dense(3, activation="softmax")]
    if form == "activation_layer":
        return [L.Dense(3), L.Activation("softmax")]
    if form == "softmax_layer":
        return [L.Dense(3), L.Softmax()]
    if form == "reshaped":  # a layer after the softmax: no logits, both clip
        return [L.Dense(3, activation="softmax"), L.Reshape((3,))]
    raise AssertionError(form)


def _model(lib, form, loss, metrics=()):
    model = lib.Sequential([lib.layers.Input((2,)), *_head(lib, form)])
    model.set_weights([KERNEL, ZERO_BIAS])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=list(metrics))
    return model


@pytest.mark.parametrize("form", ["dense_activation", "activation_layer", "softmax_layer", "reshaped"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_saturated_softmax_loss_and_sgd_step_match_keras(keras, float32_policies, form, loss):
    y = LABELS if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[LABELS]
    theirs, ours = _model(keras, form, loss), _model(cnnkit, form, loss)
    expected = theirs.evaluate(X, y, batch_size=3, verbose=0)
    np.testing.assert_allclose(ours.evaluate(X, y, batch_size=3, verbose=0), expected, rtol=1e-5)
    assert (expected > 30) == (form != "reshaped")  # the logits' loss, or the clipped one (16.1)
    theirs.fit(X, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    ours.fit(X, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)


def test_the_loss_functions_called_on_a_models_output_use_its_logits(keras):
    theirs, ours = _model(keras, "dense_activation", "mse"), _model(cnnkit, "dense_activation", "mse")
    expected = keras.losses.sparse_categorical_crossentropy(LABELS, theirs(X)).numpy()
    got = cnnkit.losses.sparse_categorical_crossentropy(LABELS, ours(X))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(expected, [40.0, 30.0, 40.0], rtol=1e-4)  # not capped at 16.1


def test_a_crossentropy_metric_uses_the_logits_too(keras, float32_policies):
    metrics = ["sparse_categorical_crossentropy", "accuracy"]
    theirs = _model(keras, "dense_activation", "sparse_categorical_crossentropy", metrics)
    ours = _model(cnnkit, "dense_activation", "sparse_categorical_crossentropy", metrics)
    expected = theirs.evaluate(X, LABELS, batch_size=3, verbose=0, return_dict=True)
    got = ours.evaluate(X, LABELS, batch_size=3, verbose=0, return_dict=True)
    assert expected["sparse_categorical_crossentropy"] > 30
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_ignore_class_clips_and_averages_over_the_other_samples_as_keras_does(keras, float32_policies, reduction):
    """Keras masks y_pred before the cross-entropy when ignore_class is set, which drops the logits, and reduces
    over the samples not ignored (the mean of two here, not a third of the sum)."""
    theirs = _model(keras, "dense_activation", keras.losses.SparseCategoricalCrossentropy(
        ignore_class=0, reduction=reduction))
    ours = _model(cnnkit, "dense_activation", cnnkit.losses.SparseCategoricalCrossentropy(
        ignore_class=0, reduction=reduction))
    weights = np.array([0.5, 1.0, 2.0], np.float32)
    for sample_weight in (None, weights):
        expected = theirs.evaluate(X, LABELS, batch_size=3, verbose=0, sample_weight=sample_weight)
        got = ours.evaluate(X, LABELS, batch_size=3, verbose=0, sample_weight=sample_weight)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    all_ignored = cnnkit.losses.SparseCategoricalCrossentropy(ignore_class=1, reduction=reduction)
    assert float(all_ignored(np.array([1, 1]), np.full((2, 3), 1 / 3, np.float32))) == 0.0


def _custom_softmax_layer(lib):
    class OpsSoftmax(lib.layers.Layer):  # a user's layer: Keras layout in `call`, keras.ops inside
        def call(self, inputs):
            return lib.ops.softmax(inputs)
    return OpsSoftmax()


@pytest.mark.parametrize("head", ["conv_activation", "custom_layer"])
def test_per_pixel_softmax_of_a_convolution(keras, float32_policies, head):
    """A segmentation head: Conv2D(classes, 1, softmax), or a user's layer applying keras.ops.softmax, and a
    per-pixel sparse cross-entropy (the logits follow the output between cnnkit's layouts)."""
    x = np.zeros((2, 2, 2, 2), np.float32)
    x[0, :, :, 0] = 1.0
    x[1, :, :, 1] = 1.0
    y = np.array([[[1, 0], [2, 0]], [[0, 1], [1, 2]]])
    models = []
    for lib in (keras, cnnkit):
        layers = ([lib.layers.Conv2D(3, 1, activation="softmax")] if head == "conv_activation" else
                  [lib.layers.Conv2D(3, 1), _custom_softmax_layer(lib)])
        model = lib.Sequential([lib.layers.Input((2, 2, 2)), *layers])
        model.set_weights([KERNEL.reshape(1, 1, 2, 3), ZERO_BIAS])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        models.append(model)
    expected = models[0].evaluate(x, y, batch_size=2, verbose=0)
    assert expected > 16.2  # per pixel 40, 30 or 0: above what clipped probabilities could give (at most 16.1)
    np.testing.assert_allclose(models[1].evaluate(x, y, batch_size=2, verbose=0), expected, rtol=1e-5)


def test_sigmoid_output_and_binary_crossentropy(keras, float32_policies):
    x = np.array([[1.0], [-1.0], [2.0]], np.float32)
    y = np.array([0.0, 1.0, 1.0], np.float32)
    models = []
    for lib in (keras, cnnkit):
        model = lib.Sequential([lib.layers.Input((1,)), lib.layers.Dense(1, activation="sigmoid")])
        model.set_weights([np.array([[30.0]], np.float32), np.zeros(1, np.float32)])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy")
        models.append(model)
    expected = models[0].evaluate(x, y, batch_size=3, verbose=0)
    assert expected > 16.2  # above the clipped formula's ceiling
    np.testing.assert_allclose(models[1].evaluate(x, y, batch_size=3, verbose=0), expected, rtol=1e-5)
    for model in models:
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(models[1].get_weights()[0], models[0].get_weights()[0], rtol=1e-5)


def test_from_logits_true_on_a_softmax_output_warns_and_uses_the_logits(keras):
    probabilities = cnnkit.activations.softmax(cnnkit.ops.convert_to_tensor(KERNEL))
    with pytest.warns(UserWarning, match="produced by a Softmax activation"):
        got = cnnkit.losses.sparse_categorical_crossentropy(LABELS[:2], probabilities, from_logits=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = keras.losses.sparse_categorical_crossentropy(
            LABELS[:2], keras.activations.softmax(keras.ops.convert_to_tensor(KERNEL)), from_logits=True).numpy()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_jit_compiled_forward_keeps_the_logits(float32_policies):
    model = cnnkit.Sequential([cnnkit.layers.Input((2,)), cnnkit.layers.Dense(3, activation="softmax")])
    model.set_weights([KERNEL, ZERO_BIAS])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=True)
    np.testing.assert_allclose(model.evaluate(X, LABELS, batch_size=3, verbose=0), (40.0 + 30.0 + 40.0) / 3,
                               rtol=1e-4)


def test_binary_crossentropy_on_a_softmax_output_uses_its_logits_as_keras_does(keras, float32_policies):
    """A common mix-up (a 2-unit softmax trained with binary_crossentropy on one-hot labels): Keras takes whatever
    logits the output carries, here the softmax's, into its sigmoid cross-entropy; cnnkit computes the same."""
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], np.float32)
    models = []
    for lib in (keras, cnnkit):
        model = lib.Sequential([lib.layers.Input((2,)), lib.layers.Dense(2, activation="softmax")])
        model.set_weights([np.array([[25.0, 0.0], [0.0, 3.0]], np.float32), np.zeros(2, np.float32)])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy")
        models.append(model)
    expected = models[0].evaluate(x, y, batch_size=3, verbose=0)
    np.testing.assert_allclose(models[1].evaluate(x, y, batch_size=3, verbose=0), expected, rtol=1e-5)
    for model in models:
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    for mine, theirs in zip(models[1].get_weights(), models[0].get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
