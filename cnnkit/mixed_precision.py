"""Dtype policies and mixed precision, as `keras.mixed_precision` / `keras.dtype_policies` in Keras 3.

A policy names a layer's compute dtype and variable dtype. 'mixed_float16' and 'mixed_bfloat16' keep the weights
in float32 and compute in float16 / bfloat16; any float dtype name ('float32', 'bfloat16', ...) uses that dtype for
both. Layers take the global policy when they are created (`dtype=None`), or the one given as `dtype=`.

Example:
    >>> from cnnkit import layers, mixed_precision
    >>> mixed_precision.set_global_policy('mixed_bfloat16')
    >>> dense = layers.Dense(10)
    >>> dense.dtype_policy, dense.compute_dtype, dense.variable_dtype
    (<DTypePolicy "mixed_bfloat16">, 'bfloat16', 'float32')
    >>> head = layers.Activation('softmax', dtype='float32')     # Keras's advice for the last layer
    >>> mixed_precision.set_global_policy('float32')

Note:
    Keras casts each weight and input of a mixed layer to the compute dtype. cnnkit runs a mixed layer inside
    `torch.autocast(device, dtype=compute_dtype)`, PyTorch's engine for the same thing: convolutions and matrix
    products run in the compute dtype, and the few ops autocast keeps in float32 (softmax and reductions on
    CUDA, for example) have their results cast back, so a mixed layer's output has the compute dtype as in Keras.
    A layer with a plain float policy inside a mixed model turns autocast off and casts its floating inputs to
    its dtype, as Keras's input autocasting does.
"""

import torch

from cnnkit import config
from cnnkit.registry import did_you_mean

_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_VALID = (*_MIXED, *_FLOATS, "int32", "int64", "uint8", "bool")  # other dtypes: for Input(dtype='int32')

# `in_use` becomes True once a policy that is not float32 is created: until then layers skip every policy check.
_state = {"policy": None, "in_use": False}


class DTypePolicy:
    """A layer's dtype policy: `name`, `compute_dtype` and `variable_dtype`.

    Args:
        name: 'mixed_float16', 'mixed_bfloat16' or a float dtype name ('float32', 'float16', 'bfloat16',
            'float64'); None: the global policy's name.

    Example:
        >>> DTypePolicy('mixed_float16').compute_dtype, DTypePolicy('mixed_float16').variable_dtype
        ('float16', 'float32')
    """

    def __init__(self, name=None):
        if name is None:
            name = global_policy().name
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: name={name!r} "
                            f"(of type {type(name).__name__})")
        if name not in _VALID:
            raise ValueError(f"Cannot convert {name!r} to a mixed precision DTypePolicy. Valid policies include "
                             f"'mixed_float16', 'mixed_bfloat16', and the name of any float dtype such as "
                             f"'float32'. Received: name={name!r}.{did_you_mean(name, _VALID)}")
        self._name = name
        self._compute_dtype = _MIXED.get(name, name)
        self._variable_dtype = "float32" if name in _MIXED else name
        if self._compute_dtype in _FLOATS and self._compute_dtype != "float32":
            _state["in_use"] = True

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        """The dtype layers compute in (and output)."""
        return self._compute_dtype

    @property
    def variable_dtype(self):
        """The dtype of the layers' weights."""
        return self._variable_dtype

    @property
    def is_mixed(self):
        return self._compute_dtype != self._variable_dtype

    @property
    def quantization_mode(self):
        return None

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)


Policy = DTypePolicy  # Keras's legacy name (keras.mixed_precision.Policy)
FloatDTypePolicy = DTypePolicy


def get(identifier):
    """A `DTypePolicy` from a policy, a name, a config dict ({'class_name': 'DTypePolicy', 'config': {...}}, as
    Keras 3 writes into layer configs) or None (the global policy)."""
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, torch.dtype):
        identifier = str(identifier).replace("torch.", "")
    if isinstance(identifier, dict):
        if identifier.get("class_name", "DTypePolicy") not in ("DTypePolicy", "FloatDTypePolicy"):
            raise ValueError(f"Only float dtype policies are supported (cnnkit has no quantized layers). "
                             f"Received: {identifier!r}")
        return DTypePolicy(**identifier.get("config", {}))
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    raise ValueError(f"Invalid dtype policy: expected a policy name (such as 'mixed_float16') or a DTypePolicy. "
                     f"Received: {identifier!r} (of type {type(identifier).__name__})")


def serialize(policy):
    """Keras 3's form of a policy in a layer config."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(), "registered_name": None}


deserialize = get


def set_global_policy(policy):
    """Sets the policy of layers created from now on ('mixed_float16', 'mixed_bfloat16', 'float32', ...).

    Layers created before keep their policy, as in Keras. `compile()` wraps the optimizer in a
    `LossScaleOptimizer` when the model's policy is 'mixed_float16' (Keras's `auto_scale_loss=True`).

    Raises:
        ValueError: for an unknown name (with the closest valid one).
    """
    if not isinstance(policy, (str, DTypePolicy)):
        raise ValueError(f"Invalid `policy` argument. Expected the string name of a policy (such as "
                         f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy!r} "
                         f"(of type {type(policy).__name__})")
    _state["policy"] = get(policy)


set_dtype_policy = set_global_policy


def global_policy():
    """The global policy (default: `DTypePolicy(config.floatx())`, i.e. 'float32')."""
    if _state["policy"] is None:
        return DTypePolicy(config.floatx())
    return _state["policy"]


dtype_policy = global_policy


# ---- running layers under their policy (used by Layer.forward) ----------------------------------------------

def _first_tensor(inputs):
    if isinstance(inputs, torch.Tensor):
        return inputs
    for item in inputs if isinstance(inputs, (list, tuple)) else ():
        if isinstance(item, torch.Tensor):
            return item
    return None


def _map_floats(value, dtype, only=None):
    """`value` (a tensor or a list/tuple of them) with its floating tensors cast to `dtype` (those of dtype `only`,
    when given)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and value.dtype != dtype and (only is None or value.dtype == only):
            return value.to(dtype)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_map_floats(v, dtype, only) for v in value)
    return value


def call_with_policy(layer, inputs, training, call=None, cast_inputs=False):
    """Runs `layer.call(inputs, training)` (or `call(inputs, training)`, a computation standing for the layer's,
    e.g. a fused chain of layers sharing its policy) under the layer's dtype policy.

    A mixed policy runs the call inside torch.autocast with the compute dtype (unless already inside one with that
    dtype) and, for layers without sub-layers, casts float32 results to the compute dtype; with `cast_inputs`
    (a call that is user code: a subclassed Model's or a custom layer's, whose own ops autocast would leave in
    float32) it first casts floating inputs to the compute dtype, as Keras's input autocasting does. A float
    policy turns an enclosing autocast off and casts floating inputs to its dtype.
    """
    policy = layer.dtype_policy
    call = call or layer.call
    first = _first_tensor(inputs)
    if first is None:
        return call(inputs, training=training)
    device = first.device.type
    compute = config.torch_dtype(policy.compute_dtype)
    autocasting = torch.is_autocast_enabled(device)
    if policy.is_mixed:
        if cast_inputs:
            inputs = _map_floats(inputs, compute)
        if autocasting and torch.get_autocast_dtype(device) == compute:
            out = call(inputs, training=training)
        else:
            with torch.autocast(device, dtype=compute):
                out = call(inputs, training=training)
        return out if layer._has_sublayers() else _map_floats(out, compute, only=torch.float32)
    inputs = _map_floats(inputs, compute)
    if autocasting:
        with torch.autocast(device, enabled=False):
            return call(inputs, training=training)
    return call(inputs, training=training)


def in_use():
    """True once a policy other than float32 has been created in this process."""
    return _state["in_use"]


def _reset():
    """Back to the default policy (tests)."""
    _state["policy"] = None


from cnnkit.optimizers.loss_scale import LossScaleOptimizer as LossScaleOptimizer  # noqa: E402 (Keras's path)
