"""Weight initializers with Keras names, arguments and fan rules.

An initializer is called with a Keras-layout shape (a conv kernel is (*kernel_size, in, out)) and returns a
float tensor of that shape; layers move it to torch layout. Fans follow Keras: for a kernel of shape
(*k, in, out), fan_in = prod(k) * in and fan_out = prod(k) * out.

Note:
    torch.nn layers default to kaiming_uniform(a=sqrt(5)); cnnkit layers default to Keras's glorot_uniform
    kernels and zero biases.
"""

import inspect
import math

import numpy as np
import torch

from cnnkit.registry import Registry

INITIALIZERS = Registry("initializer")


def compute_fans(shape):
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: `__call__(shape, dtype=None) -> torch.Tensor`, `get_config()`, `from_config()`."""

    def __init__(self, seed=None):
        self.seed = seed

    def _generator(self):
        if self.seed is None:
            return None
        return torch.Generator().manual_seed(int(self.seed))

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _dtype(dtype):
    return dtype or torch.float32


class Zeros(Initializer):
    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype=None):
        return torch.zeros(shape, dtype=_dtype(dtype))

    def get_config(self):
        return {}


class Ones(Zeros):
    def __call__(self, shape, dtype=None):
        return torch.ones(shape, dtype=_dtype(dtype))


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype=None):
        return torch.full(shape, float(self.value), dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        out = torch.empty(shape, dtype=_dtype(dtype))
        return out.normal_(self.mean, self.stddev, generator=self._generator())

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        out = torch.empty(shape, dtype=_dtype(dtype))
        return out.uniform_(self.minval, self.maxval, generator=self._generator())

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def truncated_normal(shape, dtype, mean, stddev, generator=None):
    """Normal samples, those beyond two standard deviations of the mean drawn again (only those: torch's
    trunc_normal_ redraws the whole tensor until none is out, several times slower for the large kernels of
    EfficientNet/ConvNeXt)."""
    out = torch.empty(shape, dtype=dtype).normal_(mean, stddev, generator=generator)
    flat = out.view(-1)
    out_of_range = ((flat - mean).abs() > 2 * stddev).nonzero().squeeze(1)
    while out_of_range.numel():
        flat[out_of_range] = torch.empty(out_of_range.numel(), dtype=dtype).normal_(mean, stddev, generator=generator)
        out_of_range = out_of_range[(flat[out_of_range] - mean).abs() > 2 * stddev]
    return out


class TruncatedNormal(RandomNormal):
    """Normal samples re-drawn until within two standard deviations of the mean."""

    def __call__(self, shape, dtype=None):
        return truncated_normal(shape, _dtype(dtype), self.mean, self.stddev, self._generator())


class VarianceScaling(Initializer):
    """Samples with variance scale / n, n = fan_in, fan_out or their mean (Keras's VarianceScaling)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg'. Received: mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ValueError(
                "VarianceScaling: distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform'. "
                f"Received: distribution={distribution!r}"
            )
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive. Received: scale={scale}")
        self.scale, self.mode = scale, mode
        self.distribution = "truncated_normal" if distribution == "normal" else distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        out = torch.empty(shape, dtype=_dtype(dtype))
        gen = self._generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return out.uniform_(-limit, limit, generator=gen)
        if self.distribution == "untruncated_normal":
            return out.normal_(0.0, math.sqrt(variance), generator=gen)
        std = math.sqrt(variance) / 0.87962566103423978
        return truncated_normal(shape, out.dtype, 0.0, std, gen)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _fixed(name, scale, mode, distribution):
    class _Fixed(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    _Fixed.__name__ = _Fixed.__qualname__ = name
    _Fixed.__doc__ = f"VarianceScaling(scale={scale}, mode='{mode}', distribution='{distribution}')."
    return _Fixed


GlorotUniform = _fixed("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _fixed("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _fixed("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _fixed("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _fixed("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _fixed("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
        flat = torch.empty((rows, shape[-1]), dtype=_dtype(dtype))
        torch.nn.init.orthogonal_(flat, self.gain, generator=self._generator())
        return flat.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape. Received: shape={tuple(shape)}")
        return self.gain * torch.eye(*shape, dtype=_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


for _cls, _name in [
    (Zeros, "zeros"), (Ones, "ones"), (Constant, "constant"), (RandomNormal, "random_normal"),
    (RandomUniform, "random_uniform"), (TruncatedNormal, "truncated_normal"),
    (VarianceScaling, "variance_scaling"), (GlorotUniform, "glorot_uniform"), (GlorotNormal, "glorot_normal"),
    (HeUniform, "he_uniform"), (HeNormal, "he_normal"), (LecunUniform, "lecun_uniform"),
    (LecunNormal, "lecun_normal"), (Orthogonal, "orthogonal"), (Identity, "identity"),
]:
    INITIALIZERS.register(_name, _cls, aliases=(_cls.__name__,))


def get(identifier):
    """An initializer from a name ('he_normal' or 'HeNormal'), a config dict, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls = INITIALIZERS.lookup(identifier["class_name"])
        return cls.from_config(_accepted_config(cls, identifier["class_name"], identifier.get("config") or {}))
    if isinstance(identifier, str):
        return INITIALIZERS.lookup(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}.")


def _accepted_config(cls, class_name, config):
    """The options of a (possibly Keras-written) initializer config that `cls` takes. Options it does not take are
    dropped when None (Keras 3 writes 'input_axes': None, 'output_axes': None); any other value is an error."""
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif value is not None:
            raise ValueError(f"Initializer {class_name}: option {key}={value!r} is not supported by cnnkit (cnnkit's "
                             f"{class_name} takes {sorted(accepted) or 'no options'}).")
    return out


def serialize(initializer):
    """{'class_name': ..., 'config': ...} as Keras writes it."""
    if isinstance(initializer, Initializer):
        return {"module": "keras.initializers", "class_name": type(initializer).__name__,
                "config": initializer.get_config(), "registered_name": None}
    raise ValueError(f"Cannot serialize initializer {initializer!r}: not a cnnkit initializer.")


def to_tensor(initializer, shape, dtype=None):
    """Calls an initializer (cnnkit or any callable) and returns a float torch tensor."""
    value = initializer(tuple(shape), dtype=dtype or torch.float32)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(np.asarray(value), dtype=dtype or torch.float32)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"Initializer {initializer!r} returned shape {tuple(value.shape)}, expected {tuple(shape)}.")
    return value
