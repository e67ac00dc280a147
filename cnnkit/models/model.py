"""`Model`: a Layer made of layers. Functional (`Model(inputs, outputs)`) or subclassed (override `call`).

A functional model runs its `Graph` on internal-layout tensors; `model(x)` and `predict(x)` convert from and to
Keras layout once, at the edges. A model can be used as a layer of another model (a frozen backbone inside a
Sequential), sharing its weights.
"""

import numpy as np
import torch

from cnnkit.layers.base import Layer
from cnnkit.layers.base import deserialize
from cnnkit.layers.base import register
from cnnkit.layers.base import serialize
from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.layers.node import flatten
from cnnkit.models import summary as summary_module
from cnnkit.models import saving
from cnnkit.models.graph import Graph
from cnnkit.ops import layout
from cnnkit.registry import did_you_mean
from cnnkit.training.trainer import Trainer
from cnnkit.utils.naming import unique_name


@register(aliases=("Functional",))
class Model(Trainer, Layer):
    """A model: `Model(inputs, outputs)` from `Input` and layer calls, or a subclass that defines `call`.

    Args:
        inputs: a SymbolicTensor from `Input`, or a list of them.
        outputs: a SymbolicTensor from layer calls, or a list of them (the model then returns a list).
        name: default 'functional', 'functional_1', ...
        trainable: False freezes every layer.

    Example:
        >>> inputs = Input(shape=(32, 32, 3))
        >>> x = Conv2D(32, 3, activation='relu')(inputs)
        >>> outputs = Dense(10, activation='softmax')(Flatten()(x))
        >>> model = Model(inputs, outputs)
        >>> model.predict(np.zeros((2, 32, 32, 3))).shape
        (2, 10)

    Note:
        A subclass that overrides `call(inputs, training=False)` receives and returns Keras-layout tensors, and
        calls its layers the Keras way (`self.dense(x)`).
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if name is None and type(self) is Model:
            name = unique_name("functional")
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._graph = None
        self._layer_list = []
        if (inputs is None) != (outputs is None):
            raise ValueError("Model: give both inputs and outputs (functional model), or neither (subclassed model).")
        if inputs is not None:
            self._set_graph(inputs, outputs)

    # ---- structure -----------------------------------------------------------------------------------------

    def _set_graph(self, inputs, outputs):
        in_items, self._inputs_list = flatten(inputs)
        out_items, self._outputs_list = flatten(outputs)
        self._graph = Graph(in_items, out_items, owner=f"Model '{self.name}'")
        for layer in self._graph.layers:
            if layer not in self._layer_list:
                self._track(layer)
        self.built = True
        self._build_shapes = [t.shape for t in in_items] if self._inputs_list else in_items[0].shape

    def _track(self, layer):
        """Registers a layer as a torch submodule under its name (state_dict keys like 'conv2d.kernel')."""
        self._layer_list.append(layer)
        key = layer.name
        if hasattr(type(self), key) or key in self.__dict__ or (key in self._modules and self._modules[key] is not layer):
            key = f"layer_{len(self._layer_list) - 1}_{key}"
        self.add_module(key, layer)

    @property
    def layers(self):
        """The model's layers in graph order (a functional model includes its InputLayers, as in Keras)."""
        if self._graph is not None:
            return list(self._graph.layers)
        return [m for m in self.children() if isinstance(m, Layer)]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in `layers`."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer: index must be an int in [0, {len(self.layers)}). Received: index={index!r}")
            return self.layers[index]
        names = [layer.name for layer in self.layers]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: '{name}'.{did_you_mean(name, names)} Existing layers are: {names}.")

    def _require_graph(self, what):
        if self._graph is None:
            raise ValueError(
                f"Model '{self.name}' has not yet been built, so it has no {what}. Build it first: give the first "
                "layer an input_shape, start with an Input, call model.build(input_shape), or call it on data."
            )
        return self._graph

    @property
    def inputs(self):
        return list(self._require_graph("inputs").inputs)

    @property
    def outputs(self):
        return list(self._require_graph("outputs").outputs)

    @property
    def input(self):
        graph = self._require_graph("input")
        return graph.inputs if self._inputs_list else graph.inputs[0]

    @property
    def output(self):
        graph = self._require_graph("output")
        return graph.outputs if self._outputs_list else graph.outputs[0]

    @property
    def input_shape(self):
        inp = self.input
        return [t.shape for t in inp] if isinstance(inp, list) else inp.shape

    @property
    def output_shape(self):
        out = self.output
        return [t.shape for t in out] if isinstance(out, list) else out.shape

    # ---- weights -------------------------------------------------------------------------------------------

    def _collect(self, getter):
        seen, out = set(), []
        for layer in self.layers:
            for weight in getter(layer):
                if id(weight) not in seen:
                    seen.add(id(weight))
                    out.append(weight)
        return out

    @property
    def weights(self):
        return self._collect(lambda layer: layer.weights)

    @property
    def trainable_weights(self):
        return self._collect(lambda layer: layer.trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._collect(lambda layer: layer.non_trainable_weights)

    @property
    def losses(self):
        return [loss for layer in self.layers for loss in layer.losses]

    def get_weights(self):
        """All weights as numpy arrays in Keras layout, layer by layer (Keras's order)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}' expects {expected} weight arrays (the length of get_weights()); "
                             f"set_weights received {len(weights)}.")
        start = 0
        for layer in self.layers:
            count = len(layer.get_weights())
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        self._require_graph("parameters")
        return int(sum(w.numel() for w in self.weights))

    # ---- calling -------------------------------------------------------------------------------------------

    def build(self, input_shape):
        if self._graph is None and type(self).call is not Model.call:
            return  # subclassed model: its layers build on first call
        if self._graph is None:
            raise ValueError(f"Model '{self.name}' has no layers to build.")

    def call(self, inputs, training=False):
        values, _ = flatten(inputs)
        outputs = self._graph.run(values, training)
        return outputs if self._outputs_list else outputs[0]

    def forward(self, inputs, training=False):
        if self._graph is None and type(self).call is not Model.call:
            items, was_list = flatten(inputs)
            keras_in = [layout.to_keras(t) for t in items]
            out = self.call(keras_in if was_list else keras_in[0], training=training)
            out_items, out_list = flatten(out)
            internal = [layout.to_internal(t) for t in out_items]
            return internal if out_list else internal[0]
        return super().forward(inputs, training)

    def __call__(self, inputs, training=None, **kwargs):
        """Keras's call (data or symbolic tensors, Keras layout), with the inputs checked against the model's."""
        if self._graph is not None:
            items, was_list = flatten(inputs)
            items = self._conform_inputs(items)
            inputs = items if was_list else items[0]
        return super().__call__(inputs, training=training, **kwargs)

    def _conform_inputs(self, items):
        """Checks data (or symbolic tensors) against the model's inputs, as Keras does.

        Data with one axis too few whose expected last axis is 1 gets that axis (MNIST images (n, 28, 28) go into
        a model with Input(shape=(28, 28, 1))), and data with an extra last axis of size 1 loses it (Keras's rank
        adjustment).

        Returns:
            The list of (possibly reshaped) inputs.

        Raises:
            ValueError: a wrong number of inputs, or a shape that does not fit, named with the expected shape.
        """
        graph = self._graph
        if graph is None or type(self).call is not Model.call:
            return items
        if len(items) != len(graph.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(graph.inputs)} input(s) with shapes "
                             f"{[t.shape for t in graph.inputs]}, but received {len(items)} input(s).")
        conformed = []
        for index, (value, reference) in enumerate(zip(items, graph.inputs)):
            if not isinstance(value, (SymbolicTensor, torch.Tensor, np.ndarray)):
                value = np.asarray(value)
            expected, shape = reference.shape, tuple(value.shape)
            if not isinstance(value, SymbolicTensor):
                if len(shape) == len(expected) + 1 and shape[-1] == 1:
                    value = value[..., 0]
                elif len(shape) == len(expected) - 1 and expected[-1] == 1:
                    value = value[..., None]
            found = tuple(value.shape)
            if len(found) != len(expected) or any(e is not None and f is not None and e != f
                                                  for e, f in zip(expected[1:], found[1:])):
                raise ValueError(f"Input {index} of model '{self.name}' is incompatible with the model: expected "
                                 f"shape={expected}, found shape={shape}")
            conformed.append(value)
        return conformed

    def compute_output_shape(self, input_shape):
        graph = self._require_graph("output shape")
        shapes = graph.output_shapes(input_shape if self._inputs_list else [input_shape])
        return shapes if self._outputs_list else shapes[0]

    def save_weights(self, filepath, overwrite=True):
        """Writes the weights: '.weights.h5' (Keras 3 layout) or '.h5'/'.hdf5' (tf.keras layout); atomic."""
        saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Reads weights written by cnnkit or Keras ('.weights.h5', '.h5'/'.hdf5', or a '.keras' archive)."""
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Saves architecture, weights and optimizer state: '.keras' (zip) or '.h5'/'.hdf5'; atomic."""
        saving.save_model(self, filepath, overwrite, include_optimizer)

    def export(self, filepath, format="", verbose=True, input_signature=None, **kwargs):
        """Writes the inference pass as ONNX (`pip install "cnnkit[onnx]"`), atomically: inputs (batch, h, w, c)
        float32 with a dynamic batch, named after the Input layers; outputs as `predict`'s, named after their
        layers. `input_signature=[(None, 224, 224, 3)]` sets unknown image sizes; `opset_version=` the opset.

        Example: `model.export('model.onnx')` prints "Saved artifact at 'model.onnx'."

        Note: Keras's default format is 'tf_saved_model'; cnnkit writes only 'onnx' (also for format='').
        """
        from cnnkit.models.export import export_model  # noqa: PLC0415 (onnx is optional)

        export_model(self, filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Prints the Keras-style table: layers, output shapes, parameter counts, totals."""
        summary_module.print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                                     expand_nested=expand_nested, show_trainable=show_trainable,
                                     layer_range=layer_range)

    def get_config(self):
        graph = self._require_graph("config")
        # A layer may also have been called outside this model (a backbone used in two models): number only the
        # calls that belong to this graph, as Keras does, so that from_config finds them on the new layers.
        in_graph = {node.id for node in graph.nodes}
        node_index = {}
        for layer in graph.layers:
            calls = [node for node in layer._inbound_nodes if node.id in in_graph]
            node_index.update((node.id, i) for i, node in enumerate(calls))

        def history(tensor):
            layer, index, position = tensor.history
            return [layer.name, node_index[layer._inbound_nodes[index].id], position]

        layers = []
        for layer in graph.layers:
            spec = serialize(layer)
            spec["name"] = layer.name
            spec["inbound_nodes"] = [
                {"args": [_tensor_ref(t, history(t)) for t in node.inputs], "kwargs": dict(node.call_kwargs),
                 "as_list": node.input_is_list}
                for node in layer._inbound_nodes if node.id in in_graph and not isinstance(layer, InputLayer)
            ]
            layers.append(spec)
        return {"name": self.name, "trainable": self.trainable, "dtype": super().get_config()["dtype"],
                "layers": layers, "input_layers": [history(t) for t in graph.inputs],
                "output_layers": [history(t) for t in graph.outputs],
                "inputs_are_list": self._inputs_list, "outputs_are_list": self._outputs_list}

    @classmethod
    def from_config(cls, config):
        return functional_from_config(config)


def _tensor_ref(tensor, history):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": tensor.dtype, "keras_history": history}}


def _node_calls(spec):
    """A layer spec's recorded calls as (input histories, inputs given as a list, call kwargs).

    Reads cnnkit's form ({'args': [t, ...], 'as_list': ...}), Keras 3's ({'args': [[t, t]]} for a list argument,
    {'args': [t]} otherwise) and tf.keras 2's ([[layer, node, tensor, kwargs], ...]).
    """
    calls = []
    for call in spec.get("inbound_nodes") or []:
        if isinstance(call, dict):
            args = list(call.get("args") or [])
            kwargs = {k: v for k, v in (call.get("kwargs") or {}).items() if v is not None}
            if "as_list" in call:
                refs, as_list = args, bool(call["as_list"])
            elif len(args) == 1 and isinstance(args[0], (list, tuple)):
                refs, as_list = list(args[0]), True
            else:
                refs, as_list = args, len(args) > 1
            histories = [tuple(ref["config"]["keras_history"]) for ref in refs]
        else:
            histories = [tuple(item[:3]) for item in call]
            kwargs = dict(call[0][3]) if call and len(call[0]) > 3 else {}
            as_list = len(call) > 1
        calls.append((histories, as_list, kwargs))
    return calls


def _io_refs(value, listed):
    """input_layers / output_layers as (list of (layer, node, tensor), given as a list). Keras writes a single
    input as one [layer, node, tensor] triple and a list of inputs as a list of triples."""
    if value and isinstance(value[0], str):
        return [tuple(value)], False
    return [tuple(ref) for ref in value], True if listed is None else listed


def functional_from_config(config):
    """Rebuilds a functional Model from its config (new layers, new weights): cnnkit's `Model.get_config()` output
    or Keras 3's (also tf.keras 2's) functional config."""
    created, tensors = {}, {}
    for spec in config["layers"]:
        layer = deserialize(spec)
        created[spec["name"]] = layer
        if isinstance(layer, InputLayer):
            tensors[(layer.name, 0, 0)] = layer.output
    # Calls are replayed as soon as their inputs exist (a shared layer's later call may need layers listed after
    # it), each layer's calls in their recorded order, as Keras does.
    queues = {spec["name"]: _node_calls(spec) for spec in config["layers"]
              if not isinstance(created[spec["name"]], InputLayer)}
    while any(queues.values()):
        progress = False
        for name, queue in queues.items():
            while queue and all(ref in tensors for ref in queue[0][0]):
                histories, as_list, kwargs = queue.pop(0)
                layer = created[name]
                args = [tensors[ref] for ref in histories]
                out = layer(args if as_list else args[0], **kwargs)
                node_index = len(layer._inbound_nodes) - 1
                for i, tensor in enumerate(out if isinstance(out, list) else [out]):
                    tensors[(layer.name, node_index, i)] = tensor
                progress = True
        if not progress:
            name = next(n for n, q in queues.items() if q)
            missing = [ref[0] for ref in queues[name][0][0] if ref not in tensors]
            raise ValueError(f"Model config: layer '{name}' takes the output of {missing}, which no layer of the "
                             "config produces.")
    keras_form = "inputs_are_list" not in config
    input_refs, inputs_list = _io_refs(config["input_layers"], config.get("inputs_are_list"))
    output_refs, outputs_list = _io_refs(config["output_layers"], config.get("outputs_are_list"))

    def tensor(ref):
        name, node, index = ref
        layer = created.get(name)
        # Keras counts a nested functional model's own construction as its node 0 in input/output_layers.
        if keras_form and isinstance(layer, Model) and type(layer).get_config is Model.get_config:
            node -= 1
        if (name, node, index) not in tensors:
            raise ValueError(f"Model config: the model's inputs/outputs name the tensor {list(ref)}, which no layer "
                             "of the config produces.")
        return tensors[(name, node, index)]

    inputs = [tensor(ref) for ref in input_refs]
    outputs = [tensor(ref) for ref in output_refs]
    return Model(inputs if inputs_list else inputs[0], outputs if outputs_list else outputs[0],
                 name=config.get("name"), trainable=config.get("trainable", True), dtype=config.get("dtype"))


def model_from_config(config):
    """A model (or layer) from Keras's {'class_name': ..., 'config': ...} form, as written in model files."""
    return deserialize(config)
