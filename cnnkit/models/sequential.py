"""`Sequential`: a linear stack of layers, built into a functional graph as soon as the input shape is known."""

from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.layers.serialization import config_place
from cnnkit.layers.serialization import deserialize
from cnnkit.layers.serialization import require
from cnnkit.layers.serialization import serialize
from cnnkit.models.functional import Functional


@register
class Sequential(Functional):
    """A stack of layers, each taking the previous one's output.

    Args:
        layers: optional list of layers (an `Input(...)` or InputLayer first fixes the input shape).
        name: default 'sequential', 'sequential_1', ...
        trainable: False freezes every layer.

    The model is built (weights created, `summary()` available) as soon as the input shape is known: from an
    Input, from `input_shape=` on the first layer, from a first layer that is itself a built model, from
    `build(input_shape)`, or on the first call with data.

    Example:
        >>> model = Sequential()
        >>> model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
        >>> model.add(MaxPooling2D((2, 2)))
        >>> model.output_shape
        (None, 13, 13, 32)
    """

    keras_module = "keras"
    keras_registered_name = None
    counts_construction_node = False
    _builds_later = True

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        """The stacked layers (without the InputLayer, as in Keras)."""
        return list(self._stack)

    def add(self, layer):
        """Appends a layer (or an `Input(...)` tensor / InputLayer, which sets the input shape)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.history[0], InputLayer):
            layer = layer.history[0]
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input can only be the first element.")
            self._set_input_layer(layer)
            self._track(layer)
            self._set_graph(layer.output, layer.output)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a cnnkit layer. Received: {layer!r} ({type(layer).__name__})")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"Sequential '{self.name}': all layers must have unique names; '{layer.name}' is already "
                             "in the model.")
        self._stack.append(layer)
        self._track(layer)
        if self._graph is not None:
            self._set_graph(self._graph.inputs[0], layer(self._graph.outputs[0]))
        else:
            shape = self._known_input_shape()
            if shape is not None:
                self.build(shape)

    def pop(self):
        """Removes the last layer."""
        if not self._stack:
            raise TypeError(f"Sequential '{self.name}' has no layers to pop.")
        layer = self._stack.pop()
        self._layer_list.remove(layer)
        for key, module in list(self._modules.items()):
            if module is layer:
                del self._modules[key]
        if self._graph is not None:
            node = next(n for n in self._graph.nodes if n.layer is layer)  # its call in this graph (the last)
            self._set_graph(self._graph.inputs[0], node.inputs[0])
        return layer

    def _set_input_layer(self, layer):
        """Keeps a reference to the InputLayer without torch registering it a second time as a submodule."""
        object.__setattr__(self, "_input_layer", layer)

    def _known_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if not self._stack:
            return None
        first = self._stack[0]
        if first._batch_input_shape is not None:
            return first._batch_input_shape
        if isinstance(first, Functional) and first.built and len(first.inputs) == 1:
            return first.inputs[0].shape
        return None

    def build(self, input_shape=None):
        """Builds the graph for Keras-layout `input_shape` (batch axis included, e.g. (None, 28, 28, 1))."""
        if self._graph is not None and (self._stack or input_shape is None):
            return
        input_shape = input_shape or self._known_input_shape()
        if input_shape is None:
            raise ValueError(f"Sequential '{self.name}': cannot build without an input shape. Pass "
                             "build(input_shape=(None, ...)) or give the first layer input_shape=.")
        shape = tuple(input_shape)
        if self._input_layer is None:
            self._set_input_layer(InputLayer(batch_shape=(None, *shape[1:])))
            self._layer_list.insert(0, self._input_layer)
        x = self._input_layer.output
        for layer in self._stack:
            x = layer(x)
        self._set_graph(self._input_layer.output, x)

    def get_config(self):
        layers = []
        if self._input_layer is not None:
            layers.append(serialize(self._input_layer))
        layers += [serialize(layer) for layer in self._stack]
        return {"name": self.name, "trainable": self.trainable, "dtype": Layer.get_config(self)["dtype"],
                "layers": layers}

    @classmethod
    def from_config(cls, config):
        specs = require(config, "layers", list, "a list", field=config_place())
        return cls([deserialize(spec, f"config.layers[{i}]") for i, spec in enumerate(specs)],
                   name=config.get("name"), trainable=config.get("trainable", True), dtype=config.get("dtype"))
