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

from cnnkit.layers.base import Layer
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
        arguments: the operands' template, None where a tensor goes and a Python number for a constant
            (default: two tensors); set from the node's arguments when a Keras config is read.
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
        """Sets the operands' template (None for a tensor, a Python number for a constant), checked."""
        arguments = list(arguments)
        if len(arguments) != 2 or not any(a is None for a in arguments):
            raise ValueError(f"{self._owner()}: expected two operands, at least one a tensor. Received: {arguments}")
        for a in arguments:
            if a is not None and (isinstance(a, bool) or not isinstance(a, numbers.Real)):
                raise TypeError(f"{self._owner()}: a constant operand must be a Python number. Received: {a!r}")
        self.arguments = [None if a is None else float(a) for a in arguments]

    def _operands(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        template = self.arguments or [None] * len(tensors)
        if sum(a is None for a in template) != len(tensors):
            raise ValueError(f"{self._owner()}: called on {len(tensors)} tensors, but its operands are {template}.")
        it = iter(tensors)
        return [next(it) if a is None else a for a in template]

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        return _broadcast([tuple(s) for s in shapes], self._owner())

    def call(self, inputs, training=False):
        a, b = self._operands(inputs)
        return type(self).function(a, b)

    def node_arguments(self, refs):
        """The node's arguments as Keras writes them: `refs` (one per tensor) with the constants in place."""
        it = iter(refs)
        return [next(it) if a is None else a for a in (self.arguments or [None] * len(refs))]

    def get_config(self):
        return {"name": self.name}  # Keras's operation config; the operands are the node's arguments

    @classmethod
    def from_config(cls, config):
        return cls(name=config.get("name"))


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
        if not isinstance(other, (SymbolicTensor, numbers.Real)) or isinstance(other, bool):
            return NotImplemented
    template = [None if isinstance(t, SymbolicTensor) else t for t in (left, right)]
    layer = cls(arguments=template if len(tensors) == 1 else None)
    return layer(tensors if len(tensors) > 1 else tensors[0])
