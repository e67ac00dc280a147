"""fit(cache_frozen=True) and the image augmentation layers: a random layer (a BaseImagePreprocessingLayer, which
declares `stochastic`) is never cached. In front of a frozen backbone it leaves no frozen part, and fit refuses with
a ValueError naming it; after frozen layers it ends the cached part."""

import numpy as np
import pytest
import torch

from cnnkit.data.transforms import Transform
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Input
from cnnkit.layers import MixUp
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.models import Sequential
from cnnkit.training import frozen

SHAPE = (6, 6, 2)


class Negate(Transform):
    def draw(self, images, rng):
        return {"apply": rng.random(images.shape[0]) < 0.5}

    def apply(self, images, params):
        flags = torch.as_tensor(params["apply"], device=images.device).view(-1, 1, 1, 1)
        return torch.where(flags, -images, images)


class RandomNegate(BaseImagePreprocessingLayer):
    """A user's augmentation layer: only the base class says it is random."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transform = Negate()


def frozen_backbone():
    return [Conv2D(3, 3, trainable=False, name="frozen_conv"), GlobalAveragePooling2D(name="pool")]


@pytest.mark.parametrize("make, kind", [(lambda: MixUp(name="aug"), "MixUp"),
                                        (lambda: RandomNegate(name="aug"), "RandomNegate")])
def test_random_layer_in_front_of_the_frozen_part_is_refused(make, kind, rng):
    model = Sequential([Input(SHAPE), make(), *frozen_backbone(), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.uniform(size=(4, *SHAPE)).astype("float32"), np.zeros((4, 2), "float32")
    with pytest.raises(ValueError, match=rf"layer 'aug' is random in training \({kind} 'aug'\)"):
        model.fit(x, y, verbose=0, cache_frozen=True)
    model.fit(x, y, verbose=0)  # without the cache it trains


def test_random_layer_after_frozen_layers_ends_the_cached_part(rng):
    model = Sequential([Input(SHAPE), Conv2D(2, 1, trainable=False, name="first"), RandomNegate(name="aug", seed=1),
                        *frozen_backbone(), Dense(2)])
    assert [node.layer.name for node in frozen.FrozenSplit(model).backbone.nodes if node.inputs] == ["first"]
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.uniform(size=(4, *SHAPE)).astype("float32"), np.zeros((4, 2), "float32")
    assert len(model.fit(x, y, epochs=2, verbose=0, cache_frozen=True).history["loss"]) == 2


def test_a_dataset_pipeline_is_not_cached_but_its_source_is(tmp_path, rng):
    from PIL import Image  # noqa: PLC0415

    from cnnkit.utils import image_dataset_from_directory  # noqa: PLC0415

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    ds = image_dataset_from_directory(tmp_path, image_size=(6, 6), batch_size=2, label_mode="categorical",
                                      verbose=False, workers=1)
    model = Sequential([Input((6, 6, 3)), Conv2D(3, 3, trainable=False), GlobalAveragePooling2D(), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="a Dataset pipeline"):
        model.fit(ds.map(lambda x, y: (x / 255.0, y)), verbose=0, cache_frozen=True)
    assert len(model.fit(ds, verbose=0, cache_frozen=True).history["loss"]) == 1
