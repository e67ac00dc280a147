"""Keras 3's composite augmentation layers: RandAugment and AugMix.

Each builds the same sub-layers Keras builds (RandomShear, RandomTranslation, RandomRotation, RandomBrightness,
RandomColorDegeneration, RandomContrast, RandomSharpness, RandomPosterization, Solarization, AutoContrast and
Equalization, with Keras's arguments: every factor is the composite's `factor` range, the posterization bits
max(1, int(8 * factor[1]))) and composes their transforms (`cnnkit.data.geometric`, `cnnkit.data.photometric`) as
Keras composes its sub-layers' `transform_images`:

- RandAugment: per batch, `num_ops` op indices drawn uniformly (with repetition) from Keras's op list; per image,
  each chosen op's own parameters, drawn once per call (an op chosen twice is applied twice with the same
  parameters, as in Keras).
- AugMix: per batch, Dirichlet(alpha) weights of the `num_chains` chains, a Beta(alpha, alpha) weight of the
  original image, and each chain's ops (each of its `chain_depth` steps an op or nothing, uniformly); per image,
  each step's parameters. The result is w * x + (1 - w) * sum_k weight_k * chain_k(x), clipped to `value_range`.

Everything runs on whole batches in torch; the draws come from the layer's numpy generator (seeded by `seed`).
The parameters `draw` returns have Keras's `get_random_transformation` structure (same keys, sub-transformations
under Keras's sub-layer attribute names), so Keras's own draws can be applied to cnnkit's transforms.

Example:
    >>> RandAugment(seed=1)(np.random.uniform(0, 255, (4, 32, 32, 3))).shape
    torch.Size([4, 32, 32, 3])
"""

import numpy as np
import torch

from cnnkit.data import photometric
from cnnkit.data.transforms import Transform
from cnnkit.layers.base import register
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.layers.preprocessing.color import RandomBrightness
from cnnkit.layers.preprocessing.color import RandomColorDegeneration
from cnnkit.layers.preprocessing.color import RandomContrast
from cnnkit.layers.preprocessing.color import factor_range
from cnnkit.layers.preprocessing.color import given_value_range
from cnnkit.layers.preprocessing.color import json_form
from cnnkit.layers.preprocessing.color import python_number
from cnnkit.layers.preprocessing.filters import RandomSharpness
from cnnkit.layers.preprocessing.geometric import RandomRotation
from cnnkit.layers.preprocessing.geometric import RandomShear
from cnnkit.layers.preprocessing.geometric import RandomTranslation
from cnnkit.layers.preprocessing.tone import AutoContrast
from cnnkit.layers.preprocessing.tone import Equalization
from cnnkit.layers.preprocessing.tone import RandomPosterization
from cnnkit.layers.preprocessing.tone import Solarization
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real
from cnnkit.registry import did_you_mean

INTERPOLATIONS = ("nearest", "bilinear")

# Keras's op lists (the order fixes which index draws which op).
RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                    "solarization", "auto_contrast", "equalization")
AUG_MIX_OPS = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
               "auto_contrast", "equalization")
AUG_MIX_OPS_ALL = AUG_MIX_OPS + ("random_brightness", "random_color_degeneration", "random_contrast",
                                 "random_sharpness")


def sub_layer(name, factor, value_range, interpolation):
    """The cnnkit layer Keras's RandAugment and AugMix build under attribute `name`, with Keras's arguments."""
    if name == "random_shear":
        return RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation)
    if name == "random_translation":
        return RandomTranslation(height_factor=factor, width_factor=factor, interpolation=interpolation)
    if name == "random_rotation":
        return RandomRotation(factor=factor, interpolation=interpolation)
    if name == "solarization":
        return Solarization(addition_factor=factor, threshold_factor=factor, value_range=value_range)
    if name == "random_posterization":
        return RandomPosterization(factor=max(1, int(8 * factor[1])), value_range=value_range)
    if name == "auto_contrast":
        return AutoContrast(value_range=value_range)
    if name == "equalization":
        return Equalization(value_range=value_range)
    colour = {"random_brightness": RandomBrightness, "random_color_degeneration": RandomColorDegeneration,
              "random_contrast": RandomContrast, "random_sharpness": RandomSharpness}
    return colour[name](factor=factor, value_range=value_range)


def _scalars(values, images):
    """Numbers as a tensor in the dtype and on the device of `images` (Keras casts to the compute dtype)."""
    return torch.as_tensor(np.asarray(values), dtype=images.dtype, device=images.device)


class RandAugmentTransform(Transform):
    """RandAugment on a batch: `num_ops` ops drawn per batch from `ops` (name -> Transform, in Keras's order),
    each applied to the whole batch with its per-image parameters.

    Parameters: {"layer_idxes": ints (num_ops,), "transforms": {name: the op's parameters, or None for an op not
    chosen (and for the deterministic ones)}}.
    """

    def __init__(self, ops, num_ops):
        self.ops = dict(ops)
        self.num_ops = num_ops

    def draw(self, images, rng):
        names = list(self.ops)
        layer_idxes = rng.integers(0, len(names), self.num_ops)
        chosen = {names[i] for i in layer_idxes}
        return {"layer_idxes": layer_idxes,
                "transforms": {n: self.ops[n].draw(images, rng) if n in chosen else None for n in names}}

    def apply(self, images, params):
        names = list(self.ops)
        for index in np.asarray(params["layer_idxes"]).reshape(-1):
            name = names[int(index)]
            images = self.ops[name].apply(images, params["transforms"][name])
        return images


class AugMixTransform(Transform):
    """AugMix on a batch: `num_chains` chains of up to `chain_depth` ops from `ops` (name -> Transform), mixed
    with Dirichlet weights and blended with the original by a Beta weight, then clipped to `value_range`.

    Parameters: {"chain_mixing_weights": (num_chains,), "weight_sample": a number, "chain_transforms": one list per
    chain of {"layer_name": name, "transformation": the op's parameters}}.
    """

    def __init__(self, ops, num_chains, chain_depth, alpha, value_range):
        self.ops = dict(ops)
        self.num_chains, self.chain_depth, self.alpha = num_chains, chain_depth, alpha
        self.value_range = value_range

    def draw(self, images, rng):
        names = list(self.ops)
        weights = rng.dirichlet([self.alpha] * self.num_chains)
        weight_sample = rng.beta(self.alpha, self.alpha)
        chains = []
        for _ in range(self.num_chains):
            steps = []
            for _ in range(self.chain_depth):
                index = int(rng.integers(0, len(names) + 1))  # len(names): no op at this step
                if index < len(names):
                    name = names[index]
                    steps.append({"layer_name": name, "transformation": self.ops[name].draw(images, rng)})
            chains.append(steps)
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chain_transforms": chains}

    def apply(self, images, params):
        weights = _scalars(params["chain_mixing_weights"], images).reshape(-1)
        weight_sample = _scalars(params["weight_sample"], images).reshape(())
        mixed = torch.zeros_like(images)
        for k, steps in enumerate(params["chain_transforms"]):
            chain = images
            for step in steps:
                chain = self.ops[step["layer_name"]].apply(chain, step["transformation"])
            mixed = mixed + chain * weights[k]
        out = weight_sample * images + (1 - weight_sample) * mixed
        return photometric.clip(out, self.value_range)


class _CompositeLayer(BaseImagePreprocessingLayer):
    """Shared arguments of RandAugment and AugMix: value_range, factor (in [0, 1]) and interpolation."""

    def _set_common(self, value_range, factor, interpolation):
        owner = type(self).__name__
        self.value_range = given_value_range(owner, value_range)
        self.factor = factor_range(owner, factor, (0, 1))
        for number in self.factor:  # Keras's RandomShear, the first sub-layer, checks both ends
            if number < 0 or number > 1:
                raise ValueError(f"{owner}: The `factor` argument should be a number (or a list of two numbers) in "
                                 f"the range [0, 1.0]. Received: input_number={number}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{owner}: Unknown `interpolation` {interpolation}. Expected of one {INTERPOLATIONS}."
                             f"{did_you_mean(interpolation, INTERPOLATIONS)} Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def _ops(self, names):
        """name -> the transform of the sub-layer Keras builds under that name."""
        return {n: sub_layer(n, self.factor, self.value_range, self.interpolation).transform for n in names}


@register
class RandAugment(_CompositeLayer):
    """RandAugment (Cubuk et al., 2019), as Keras's: `num_ops` augmentations in a row, drawn per batch from 11 ops
    (shear, translation, rotation, brightness, colour degeneration, contrast, sharpness, posterization,
    solarization, auto-contrast, equalization), each with its own per-image parameters of strength `factor`.

    Args:
        value_range: (low, high), the range of the input values, e.g. (0, 255) or (0, 1).
        num_ops: how many ops to apply in a row (a non-negative int; the same op may come twice).
        factor: the strength, a number f in [0, 1] (the range [0, f]) or a pair within [0, 1]: every op's factor
            range (rotations of up to factor * 360 degrees, shifts of up to factor * the size, ...); the
            posterization keeps [1, max(1, int(8 * factor[1]))) bits.
        interpolation: 'bilinear' (default) or 'nearest', for shear, translation and rotation.
        seed: int or None: repeatable draws.
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandAugment(value_range=(0, 1), num_ops=3, factor=0.3, seed=2)(np.random.rand(2, 16, 16, 3)).shape
        torch.Size([2, 16, 16, 3])

    Note:
        Keras checks `num_ops` only when called; cnnkit refuses a negative or non-integer one at construction.
    """

    _AUGMENT_LAYERS = list(RAND_AUGMENT_OPS)

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self._set_common(value_range, factor, interpolation)
        if not is_int(num_ops) or num_ops < 0:
            raise ValueError(f"RandAugment: num_ops must be a non-negative int. Received: num_ops={num_ops!r}")
        self.num_ops = int(num_ops)
        self.transform = RandAugmentTransform(self._ops(self._AUGMENT_LAYERS), self.num_ops)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(value_range=self.value_range, num_ops=self.num_ops, factor=self.factor,
                   interpolation=self.interpolation, seed=self.seed)
        return json_form(cfg)


@register
class AugMix(_CompositeLayer):
    """AugMix (Hendrycks et al., 2020), as Keras's: the image blended with a mix of `num_chains` augmented copies,
    each a chain of up to `chain_depth` ops (chosen per batch), the op parameters drawn per image.

    Args:
        value_range: (low, high), the range of the input values; the result is clipped to it.
        num_chains: how many chains are mixed (a positive int).
        chain_depth: how many steps each chain has (a non-negative int); each step is one of the ops or nothing,
            uniformly, so a chain has 0 to chain_depth ops.
        factor: the ops' strength, as RandAugment's.
        alpha: the concentration of the Dirichlet chain weights and of the Beta weight of the original image (a
            positive number).
        all_ops: True: shear, translation, rotation, posterization, solarization, auto-contrast, equalization,
            brightness, colour degeneration, contrast and sharpness; False: the first seven.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: int or None: repeatable draws.
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> AugMix(value_range=(0, 1), num_chains=2, seed=3)(np.random.rand(2, 16, 16, 3)).shape
        torch.Size([2, 16, 16, 3])

    Note:
        Keras draws the chains' ops with Python's global `random` (a seed does not fix them); cnnkit draws
        everything from the layer's generator. Keras checks `num_chains`, `chain_depth` and `alpha` only when
        called, and takes num_chains=0; cnnkit refuses values that cannot make an AugMix at construction.
    """

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self._set_common(value_range, factor, interpolation)
        if not is_int(num_chains) or num_chains < 1:
            raise ValueError(f"AugMix: num_chains must be a positive int. Received: num_chains={num_chains!r}")
        if not is_int(chain_depth) or chain_depth < 0:
            raise ValueError(f"AugMix: chain_depth must be a non-negative int. Received: chain_depth={chain_depth!r}")
        if not is_real(alpha) or alpha <= 0:
            raise ValueError(f"AugMix: alpha must be a positive number. Received: alpha={alpha!r}")
        if not isinstance(all_ops, (bool, np.bool_)):
            raise ValueError(f"AugMix: all_ops must be True or False. Received: all_ops={all_ops!r}")
        self.num_chains, self.chain_depth = int(num_chains), int(chain_depth)
        self.alpha, self.all_ops = python_number(alpha), bool(all_ops)
        ops = self._ops(AUG_MIX_OPS_ALL if self.all_ops else AUG_MIX_OPS)
        self.transform = AugMixTransform(ops, self.num_chains, self.chain_depth, self.alpha, self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(value_range=self.value_range, num_chains=self.num_chains, chain_depth=self.chain_depth,
                   factor=self.factor, alpha=self.alpha, all_ops=self.all_ops, interpolation=self.interpolation,
                   seed=self.seed)
        return json_form(cfg)
