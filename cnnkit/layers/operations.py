"""Arithmetic on symbolic tensors (`x + 3.0`, `inputs + layer(x)`, `x * (1 / 6)`), recorded in the graph as Keras 3
records them: as operations of `keras.src.ops.numpy` (Add, Subtract, Multiply, TrueDivide), which are graph nodes but
not layers (absent from `model.layers`, no weights), written into `.keras` configs in Keras's own form
({'module': 'keras.src.ops.numpy', 'class_name': 'Add', 'config': {'name': 'add'}} with the constant among the
node's arguments), so that models built with them (MobileNetV3's hard sigmoid, ConvNeXt's residual sums)
interchange with Keras.

Example:
    >>> x = Input((8, 8, 3))
    >>> y = ReLU(6.0)(x + 3.0) * (1.0 / 6.0)      # two operations, 'add' and 'multiply'
    >>> [layer.name for layer in Model(x, y).layers]
    ['input_layer', 're_lu']
"""

import numbers

import numpy as np
import torch

from cnnkit.layers.base import Layer
from cnnkit.ops import layout
from cnnkit.registry import Registry
from cnnkit.utils.naming import to_snake_case
from cnnkit.utils.naming import unique_name

#: Keras's operation class name -> cnnkit's class; read by `cnnkit.layers.serialization.deserialize` for configs of
#: module 'keras.src.ops.numpy'.
OPERATIONS = Registry("operation")
KERAS_MODULE = "keras.src.ops.numpy"


def _broadcast(shapes, owner):
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ValueError(f"{owner}: operands with incompatible shapes {[tuple(s) for s in shapes]}.")
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


class Operation(Layer):
    """A binary element-wise operation of `keras.src.ops.numpy` in a functional graph.

    Args:
        arguments: the operands' template, None where a tensor goes and a constant elsewhere: a Python number,
            or an array / tensor (Keras layout, broadcast against the other operand as numpy does, e.g. the
            per-channel means (1, 1, 1, 3) of `preprocess_input`); default two tensors. Set from the node's
            arguments when a Keras config is read.
        name: default the snake_case Keras class name ('add', 'true_divide', ...), made unique.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    keras_module = KERAS_MODULE
    is_operation = True
    function = None

    def __init__(self, arguments=None, name=None, **kwargs):
        super().__init__(name=name or unique_name(to_snake_case(self.keras_class_name)), **kwargs)
        self.arguments = None
        if arguments is not None:
            self.set_arguments(arguments)

    def set_arguments(self, arguments):
        """Sets the operands' template (None for a tensor; a Python number, an array or a tensor for a constant,
        also in Keras's saved form {'class_name': '__tensor__' | '__numpy__', ...}), checked."""
        arguments = [decode_constant(a) for a in arguments]
        if len(arguments) != 2 or not any(a is None for a in arguments):
            raise ValueError(f"{self._owner()}: expected two operands, at least one a tensor. Received: {arguments}")
        template = []
        for a in arguments:
            if isinstance(a, torch.Tensor):
                a = a.detach().cpu()
            elif isinstance(a, np.ndarray):
                pass  # kept as numpy (Keras writes it as '__numpy__'); it computes with its dtype, as Keras's
            elif a is not None and (isinstance(a, bool) or not isinstance(a, numbers.Real)):
                raise TypeError(f"{self._owner()}: a constant operand must be a Python number or an array. "
                                f"Received: {a!r}")
            template.append(None if a is None else a if isinstance(a, (np.ndarray, torch.Tensor)) else float(a))
        self.arguments = template
        self._placed = (None, template)

    def _operands(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        template = self.arguments or [None] * len(tensors)
        if sum(a is None for a in template) != len(tensors):
            raise ValueError(f"{self._owner()}: called on {len(tensors)} tensors, but its operands are {template}.")
        it = iter(tensors)
        return [next(it) if a is None else a for a in template]

    def _array_constants(self):
        return [a for a in self.arguments or () if isinstance(a, (np.ndarray, torch.Tensor))]

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        shapes = [tuple(s) for s in shapes] + [tuple(a.shape) for a in self._array_constants()]
        return _broadcast(shapes, self._owner())

    def call(self, inputs, training=False):
        if not self._array_constants():
            return type(self).function(*self._operands(inputs))
        # An array constant is in Keras layout: the operation runs there (views, no copy) and the result goes back.
        tensors = [layout.to_keras(t) for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        device = tensors[0].device
        if self._placed[0] != device:  # the constants copied to the data's device once, not every call
            self._placed = (device, [torch.as_tensor(a).to(device) if isinstance(a, (np.ndarray, torch.Tensor)) else a
                                     for a in self.arguments])
        it = iter(tensors)
        a, b = (next(it) if c is None else c for c in self._placed[1])
        return layout.to_internal(type(self).function(a, b))

    def node_arguments(self, refs):
        """The node's arguments as Keras writes them: `refs` (one per tensor) with the constants in place (an
        array as Keras's {'class_name': '__tensor__', ...})."""
        it = iter(refs)
        return [next(it) if a is None else encode_constant(a) for a in (self.arguments or [None] * len(refs))]

    def get_config(self):
        return {"name": self.name}  # Keras's operation config; the operands are the node's arguments

    @classmethod
    def from_config(cls, config):
        return cls(name=config.get("name"))


def encode_constant(value):
    """An operation's constant argument as Keras's `serialize_keras_object` writes it among a node's arguments:
    tensors as {'class_name': '__tensor__', ...}, numpy arrays as '__numpy__', `...` as '__ellipsis__', slices as
    '__slice__'; lists and tuples item by item; numbers and strings as they are."""
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": encode_constant(value.start),
                                                      "stop": encode_constant(value.stop),
                                                      "step": encode_constant(value.step)}}
    if isinstance(value, torch.Tensor):
        return {"class_name": "__tensor__", "config": {"value": value.detach().cpu().tolist(),
                                                      "dtype": str(value.dtype).replace("torch.", "")}}
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, (list, tuple)):
        return type(value)(encode_constant(v) for v in value)
    return value


def decode_constant(value):
    """The reciprocal of `encode_constant` on a constant read from a config (JSON: tuples came back as lists)."""
    if isinstance(value, dict) and "class_name" in value:
        kind, inner = value["class_name"], value.get("config") or {}
        if kind == "__ellipsis__":
            return Ellipsis
        if kind == "__slice__":
            return slice(*(decode_constant(inner.get(k)) for k in ("start", "stop", "step")))
        if kind == "__tensor__":  # torch's dtype names are Keras's (bfloat16 too, which numpy lacks)
            return torch.as_tensor(np.asarray(inner["value"])).to(getattr(torch, inner.get("dtype", "float32")))
        if kind == "__numpy__":
            return np.asarray(inner["value"], dtype=inner.get("dtype"))
    if isinstance(value, (list, tuple)):
        return type(value)(decode_constant(v) for v in value)
    return value


def _operation(keras_name, function):
    cls = type(f"Numpy{keras_name}", (Operation,), {
        "__doc__": f"`keras.src.ops.numpy.{keras_name}` on two operands (tensors or a tensor and a number).",
        "keras_class_name": keras_name, "keras_registered_name": keras_name, "function": staticmethod(function),
        "__module__": __name__})
    OPERATIONS.register(keras_name, cls)
    return cls


NumpyAdd = _operation("Add", lambda a, b: a + b)
NumpySubtract = _operation("Subtract", lambda a, b: a - b)
NumpyMultiply = _operation("Multiply", lambda a, b: a * b)
NumpyTrueDivide = _operation("TrueDivide", lambda a, b: a / b)


def apply(cls, left, right):
    """`cls` recorded on the symbolic tensor(s) among `left`, `right` (the other may be a Python number)."""
    from cnnkit.layers.node import SymbolicTensor  # noqa: PLC0415 (node imports this module lazily)

    tensors = [t for t in (left, right) if isinstance(t, SymbolicTensor)]
    if not isinstance(left, SymbolicTensor) and not isinstance(right, SymbolicTensor):
        raise TypeError("a symbolic operation needs a symbolic tensor operand")
    for other in (left, right):
        if not isinstance(other, (SymbolicTensor, numbers.Real, np.ndarray, torch.Tensor)) or isinstance(other, bool):
            return NotImplemented
    template = [None if isinstance(t, SymbolicTensor) else t for t in (left, right)]
    layer = cls(arguments=template if len(tensors) == 1 else None)
    return layer(tensors if len(tensors) > 1 else tensors[0])
