"""Input / InputLayer: the entry point of a functional model."""

from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.layers.node import Node
from cnnkit.layers.node import SymbolicTensor
from cnnkit.ops.arguments import is_int


@register
class InputLayer(Layer):
    """Holds the model's input placeholder. Usually made through `Input(shape=...)`.

    Args:
        shape: shape without the batch axis, e.g. (28, 28, 1).
        batch_size: optional fixed batch size.
        dtype: default 'float32'.
        batch_shape: full shape with the batch axis (instead of shape + batch_size).
        name: optional name.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    config_renames = {"batch_input_shape": "batch_shape"}  # tf.keras 2's name

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None,
                 optional=False, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise NotImplementedError("InputLayer: sparse inputs are not supported by cnnkit.")
        if input_tensor is not None:
            raise NotImplementedError("InputLayer: input_tensor is not supported; use Input(shape=...).")
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: give shape (without the batch axis) or batch_shape. Received neither.")
            shape = (shape,) if is_int(shape) else tuple(shape)
            batch_shape = (batch_size, *shape)
        batch_shape = tuple(batch_shape)
        if any(d is not None and (not is_int(d) or d < 0) for d in batch_shape):
            raise ValueError(f"InputLayer: shape entries must be non-negative ints or None. "
                             f"Received: batch_shape={batch_shape}")
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.built = True
        tensor = SymbolicTensor(batch_shape, self.dtype_name, name=self.name)
        Node(self, [], [tensor], False, False)

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype_name, "sparse": False,
                "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """A symbolic input for a functional model.

    Args:
        shape: shape without the batch axis, e.g. (32, 32, 3) for RGB images (channels last).
        batch_size: optional fixed batch size.
        dtype: default 'float32'.
        batch_shape: the full shape, batch axis included, instead of shape.
        name: optional layer name.

    Returns:
        A `SymbolicTensor` of shape (batch_size, *shape).

    Example:
        >>> x = Input(shape=(32, 32, 3))
        >>> x.shape
        (None, 32, 32, 3)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                       input_tensor=tensor, optional=optional, name=name)
    return layer.output
