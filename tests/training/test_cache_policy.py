"""fit(cache_frozen='auto'), the default: it caches a frozen part when safe and worth it, says why not otherwise,
and stays silent (and unchanged) for models with nothing frozen."""

import numpy as np
import pytest

from cnnkit import Sequential
from cnnkit import config
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import Normalization
from cnnkit.layers import Rescaling
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.utils import set_random_seed

SHAPE = (10, 10, 3)


def _model(frozen=True):
    set_random_seed(0)
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=SHAPE, name="conv"), MaxPooling2D(), Flatten(),
                        Dense(3, activation="softmax")])
    model.layers[0].trainable = not frozen
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seen = []
    model.layers[0].register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    return model, seen


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.random((n, *SHAPE), dtype=np.float32), rng.integers(0, 3, n)


@pytest.fixture(autouse=True)
def _default_budget():
    yield
    config.set_frozen_cache_budget(None)


def _fit_lines(capsys, model, *args, **kwargs):
    capsys.readouterr()
    model.fit(*args, **kwargs)
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("fit: ")]


def test_auto_caches_a_frozen_part_and_says_so_once(capsys):
    model, seen = _model()
    lines = _fit_lines(capsys, model, *_data(), batch_size=4, epochs=3, verbose=2)
    assert len(lines) == 1 and lines[0].startswith("fit: caching the frozen part's output (64 floats per sample")
    assert sum(seen) == 12  # once per sample, not once per epoch


def test_auto_is_silent_and_changes_nothing_without_a_frozen_part_or_a_second_epoch(capsys):
    model, seen = _model(frozen=False)
    assert _fit_lines(capsys, model, *_data(), batch_size=4, epochs=3, verbose=2) == []
    assert sum(seen) == 36
    model, seen = _model()
    assert _fit_lines(capsys, model, *_data(), batch_size=4, epochs=1, verbose=2) == []
    assert sum(seen) == 12


@pytest.mark.parametrize("first", [lambda: Rescaling(1 / 255), lambda: Normalization(mean=0.5, variance=0.1),
                                   lambda: MaxPooling2D(1)], ids=["rescaling", "normalization", "pooling"])
def test_auto_leaves_a_weightless_first_part_alone(capsys, first):
    """A model trained from scratch that starts with weightless layers (Keras 3 tutorials' Rescaling(1./255)) has no
    frozen backbone: 'auto' keeps no float copy of its rescaled inputs and says nothing; True still caches."""
    def model():
        set_random_seed(0)
        m = Sequential([first(), Conv2D(4, 3, activation="relu"), Flatten(), Dense(3, activation="softmax")])
        m.build((None, *SHAPE))
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        seen = []
        m.layers[0].register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
        return m, seen

    m, seen = model()
    assert _fit_lines(capsys, m, *_data(), batch_size=4, epochs=3, verbose=2) == []
    assert sum(seen) == 36  # the first layer ran in every epoch: nothing cached
    m, seen = model()
    m.fit(*_data(), batch_size=4, epochs=3, verbose=0, cache_frozen=True)
    assert sum(seen) == 12


def test_auto_says_why_not_for_augmented_data(capsys):
    model, seen = _model()
    x, y = _data()
    flow = ImageDataGenerator(horizontal_flip=True).flow(x, y, batch_size=4, seed=0)
    lines = _fit_lines(capsys, model, flow, epochs=2, verbose=2)
    assert len(lines) == 1 and "not caching the frozen part's features (cache_frozen='auto')" in lines[0]
    assert "random transforms" in lines[0] and sum(seen) == 24
    model, _ = _model()
    assert _fit_lines(capsys, model, flow, epochs=2, verbose=0) == []  # verbose=0: silent


def test_auto_respects_the_memory_budget(capsys):
    config.set_frozen_cache_budget(1000)  # 12 samples x 64 floats x 4 bytes = 3 KB
    model, seen = _model()
    lines = _fit_lines(capsys, model, *_data(), batch_size=4, epochs=2, verbose=2)
    assert len(lines) == 1 and "3 KB for 12 samples would exceed the budget of 1 KB" in lines[0]
    assert sum(seen) == 24
    config.set_frozen_cache_budget(None)
    assert config.frozen_cache_budget() > 0
    with pytest.raises(ValueError, match="num_bytes must be an int >= 0 or None"):
        config.set_frozen_cache_budget(-1)
