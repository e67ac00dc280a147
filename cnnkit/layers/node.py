"""Symbolic tensors and nodes: the record of layer calls from which functional models are built.

Calling a layer on a `SymbolicTensor` (what `Input` returns) computes no numbers: it builds the layer, infers
the output shape with `compute_output_shape`, and records a `Node` (layer, inputs, outputs). A Model walks these
nodes back from its outputs.

These live beside `Layer` (not in `models/`) because `Layer.__call__` creates them.
"""

import itertools

_node_ids = itertools.count()


class SymbolicTensor:
    """A placeholder with a Keras-layout shape (batch first, None for unknown) and no value.

    Attributes:
        shape: tuple, e.g. (None, 28, 28, 1).
        dtype: str, e.g. 'float32'.
        name: str.
        history: (layer, node_index, tensor_index) of the call that produced it.
    """

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self.history = None

    @property
    def node(self):
        """The `Node` (layer call) that produced this tensor."""
        layer, node_index, _ = self.history
        return layer._inbound_nodes[node_index]

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic (it has a shape but no values). Build a Model from it and call "
            "model.predict(x), or call the layer on real data."
        )

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic and has no truth value.")

    __hash__ = object.__hash__
    __array_ufunc__ = None  # `array + x` defers to x.__radd__ (recorded) instead of numpy's element loop

    def __getitem__(self, key):
        """`x[..., 2]`, `x[:, 1:3]`: Keras's GetItem operation (`cnnkit.ops.get_item`), recorded in the graph."""
        return self._keras_op("get_item", self, key)

    def __iter__(self):
        raise NotImplementedError(f"Iterating over a symbolic tensor is not supported ({self!r}); index it instead "
                                  "(x[..., 0]).")

    # Arithmetic records Keras's numpy operations (`cnnkit.layers.operations`): graph nodes that are not layers.
    def _op(self, name, left, right):
        from cnnkit.layers import operations  # noqa: PLC0415 (operations imports Layer, which imports this module)

        return operations.apply(getattr(operations, name), left, right)

    def __add__(self, other):
        return self._op("NumpyAdd", self, other)

    def __radd__(self, other):
        return self._op("NumpyAdd", other, self)

    def __sub__(self, other):
        return self._op("NumpySubtract", self, other)

    def __rsub__(self, other):
        return self._op("NumpySubtract", other, self)

    def __mul__(self, other):
        return self._op("NumpyMultiply", self, other)

    def __rmul__(self, other):
        return self._op("NumpyMultiply", other, self)

    def __truediv__(self, other):
        return self._op("NumpyTrueDivide", self, other)

    def __rtruediv__(self, other):
        return self._op("NumpyTrueDivide", other, self)

    # The other operators Keras's KerasTensor has, recorded through cnnkit.ops (`cnnkit.layers.op_layers`).
    def _keras_op(self, name, *args):
        from cnnkit import ops  # noqa: PLC0415

        return getattr(ops, name)(*args)

    def __neg__(self):
        return self._keras_op("negative", self)

    def __abs__(self):
        return self._keras_op("absolute", self)

    def __pow__(self, other):
        return self._keras_op("power", self, other)

    def __rpow__(self, other):
        return self._keras_op("power", other, self)

    def __floordiv__(self, other):
        return self._keras_op("floor_divide", self, other)

    def __mod__(self, other):
        return self._keras_op("mod", self, other)

    def __matmul__(self, other):
        return self._keras_op("matmul", self, other)

    def __rmatmul__(self, other):
        return self._keras_op("matmul", other, self)

    def __lt__(self, other):
        return self._keras_op("less", self, other)

    def __le__(self, other):
        return self._keras_op("less_equal", self, other)

    def __gt__(self, other):
        return self._keras_op("greater", self, other)

    def __ge__(self, other):
        return self._keras_op("greater_equal", self, other)


class Node:
    """One call of `layer` on `inputs` (flat list of SymbolicTensor) that produced `outputs` (flat list)."""

    def __init__(self, layer, inputs, outputs, input_is_list, output_is_list, call_kwargs=None):
        self.id = next(_node_ids)
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.input_is_list = input_is_list
        self.output_is_list = output_is_list
        self.call_kwargs = dict(call_kwargs or {})
        node_index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, tensor in enumerate(self.outputs):
            tensor.history = (layer, node_index, i)

    @property
    def parent_nodes(self):
        """The nodes that produced this node's inputs."""
        return [t.node for t in self.inputs]


def flatten(structure):
    """(flat list, was_list) for a tensor or a list/tuple of tensors."""
    if isinstance(structure, (list, tuple)):
        return list(structure), True
    return [structure], False


def is_symbolic(structure):
    items, _ = flatten(structure)
    kinds = [isinstance(t, SymbolicTensor) for t in items]
    if any(kinds) and not all(kinds):
        raise ValueError("A layer was called on a mix of symbolic tensors (from Input) and real data.")
    return bool(kinds) and kinds[0]
