"""`Functional`: a model defined by a graph of layer calls. `Model(inputs, outputs)` returns one, as in Keras 3.

Its structure is public and is the one way into a model used by the rest of cnnkit (Grad-CAM, feature maps, the
frozen-feature cache, plot_model, the summary, the file formats): `inputs`, `outputs`, `layers`, `nodes` (the
layer calls in execution order) and sub-models cut out of any tensors, `Model(inputs, outputs)` with intermediate
or nested tensors (see `cnnkit.models.connect`).

A functional model runs its `Graph`'s plan on internal-layout tensors; `model(x)` and `predict(x)` convert from and
to Keras layout once, at the edges. The plan is rewritten by `cnnkit.models.fusion` (fused convolution + pooling,
folded BatchNormalization) where the layers declare it possible.

`isinstance(model, Functional)` answers "does this model have a layer graph?": true for `Model(inputs, outputs)`,
its subclasses and `Sequential` (which, unlike in Keras, is a Functional subclass: it is built into a graph as soon
as its input shape is known).
"""

import numpy as np
import torch

from cnnkit.layers.base import Layer
from cnnkit.layers.base import call_training_default
from cnnkit.layers.base import register
from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.layers.node import flatten
from cnnkit.layers.serialization import config_place
from cnnkit.layers.serialization import deserialize
from cnnkit.layers.serialization import require
from cnnkit.layers.serialization import serialize
from cnnkit.models import fusion
from cnnkit.models.connect import connect
from cnnkit.models.connect import register_inputs
from cnnkit.models.graph import Graph
from cnnkit.models.model import Model
from cnnkit.registry import did_you_mean


@register(aliases=("Model",))
class Functional(Model):
    """A model from `Input` tensors and layer calls: `Model(inputs, outputs)` (see `cnnkit.models.Model`).

    Args:
        inputs: a SymbolicTensor or a list of them: `Input` tensors, or any layer outputs (a sub-model; new
            Inputs are made for them, as Keras does), also inside a nested model.
        outputs: a SymbolicTensor or a list of them (the model then returns a list).
        name: default 'functional', 'functional_1', ...
        trainable: False freezes every layer.

    Example:
        >>> backbone = ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
        >>> features = Model(backbone.input, backbone.get_layer('conv4_block6_out').output)
        >>> features.output_shape
        (None, 4, 4, 1024)
    """

    call_layout = "internal"  # runs the graph of layers on channels-first tensors

    has_graph = True
    keras_module = "keras.src.models.functional"  # how Keras's files name the class
    keras_registered_name = "Functional"
    # Keras numbers a nested functional model's construction as its node 0, so its first call is node 1 in a
    # config's input_layers/output_layers (not in inbound_nodes).
    counts_construction_node = True
    _builds_later = False  # Sequential: made without a graph, built when the input shape is known

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._graph = None
        self._layer_list = []
        if inputs is None or outputs is None:
            if inputs is not None or outputs is not None or not self._builds_later:
                raise ValueError("Model: give both inputs and outputs (functional model), or neither (subclassed "
                                 "model).")
        else:
            self._set_graph(inputs, outputs)

    # ---- structure -----------------------------------------------------------------------------------------

    def _set_graph(self, inputs, outputs):
        in_items, self._inputs_list = flatten(inputs)
        out_items, self._outputs_list = flatten(outputs)
        for t in in_items + out_items:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model '{self.name}': inputs and outputs must be symbolic tensors (from Input and "
                                f"layer calls). Received: {t!r}")
        in_items, out_items = connect(in_items, out_items)
        graph = Graph(in_items, out_items, owner=f"Model '{self.name}'")
        graph.rewrite(fusion.fuse)
        self._graph = graph
        self.__dict__["_submodels"] = {}
        for layer in graph.layers:
            if layer not in self._layer_list:
                self._track(layer)
        register_inputs(self, graph.inputs)
        self.built = True

    def _track(self, layer):
        """Registers a layer as a torch submodule under its name (state_dict keys like 'conv2d.kernel')."""
        self._layer_list.append(layer)
        key = layer.name.replace(".", "_")  # torch refuses '.' in submodule names (Keras's 'mobilenet_1.00_224')
        taken = key in self._modules and self._modules[key] is not layer
        if hasattr(type(self), key) or key in self.__dict__ or taken:
            key = f"layer_{len(self._layer_list) - 1}_{key}"
        self.add_module(key, layer)

    def _require_graph(self, what):
        if self._graph is None:
            raise self._no_graph(what)
        return self._graph

    @property
    def layers(self):
        """The model's layers in Keras's order (a functional model includes its InputLayers, as in Keras)."""
        if self._graph is not None:
            return list(self._graph.layers)
        return [m for m in self.children() if isinstance(m, Layer)]

    @property
    def nodes(self):
        """The layer calls of the graph (`cnnkit.layers.node.Node`: layer, inputs, outputs, call_kwargs), in
        execution order, the Input nodes included."""
        return list(self._require_graph("nodes").nodes)

    def submodel(self, inputs, outputs, name=None):
        """`Model(inputs, outputs)` on tensors of this model (or of models nested in it), made once per model and
        tensors: a sub-model cut at intermediate or nested tensors records its layer calls again, which repeated
        uses (Grad-CAM image after image, every `fit(cache_frozen=True)`) must not pile up.

        Example:
            >>> features = model.submodel(model.inputs, model.output_of('conv5_block3_out'))
        """
        key = tuple(tuple(id(t) for t in flatten(ends)[0]) + (isinstance(ends, (list, tuple)),)
                    for ends in (inputs, outputs))
        cache = self.__dict__.setdefault("_submodels", {})
        if key not in cache:
            cache[key] = Functional(inputs, outputs, name=name)
        return cache[key]

    def find_layer(self, name):
        """A layer of this model or of a model nested in it (depth first), by name.

        Raises:
            ValueError: no such layer, with a "did you mean" over every layer name.
        """
        found = self._nested_layers()
        for layer in found:
            if layer.name == name:
                return layer
        names = [layer.name for layer in found]
        raise ValueError(f"No such layer: '{name}' in model '{self.name}' or the models inside it."
                         f"{did_you_mean(name, names)}")

    def _nested_layers(self):
        out = []
        for layer in self.layers:
            out.append(layer)
            if isinstance(layer, Functional) and layer.built:
                out += layer._nested_layers()
        return out

    def output_of(self, layer):
        """The symbolic output of `layer`'s call in this model's graph, or in the graph of a model nested in it
        (for `Model(model.inputs, model.output_of(layer))`, which reaches into the nested model).

        Args:
            layer: a layer, or its name (see `find_layer`).

        Raises:
            ValueError: the layer is not in the model, is called several times there, or has several outputs.
        """
        layer = self.find_layer(layer) if isinstance(layer, str) else layer
        calls = [node for node in self.nodes if node.layer is layer]
        if not calls:
            calls = [node for owner in self._nested_layers() if isinstance(owner, Functional) and owner.built
                     for node in owner.nodes if node.layer is layer]
        if not calls:
            raise ValueError(f"Layer '{layer.name}' is not a layer of model '{self.name}' (nor of a model inside it).")
        if len(calls) != 1 or len(calls[0].outputs) != 1:
            raise ValueError(f"Layer '{layer.name}' is called {len(calls)} times in model '{self.name}' or has "
                             "several outputs, so its output is ambiguous.")
        return calls[0].outputs[0]

    @property
    def inputs(self):
        return list(self._require_graph("inputs").inputs)

    @property
    def outputs(self):
        return list(self._require_graph("outputs").outputs)

    @property
    def input(self):
        graph = self._require_graph("input")
        return list(graph.inputs) if self._inputs_list else graph.inputs[0]

    @property
    def output(self):
        graph = self._require_graph("output")
        return list(graph.outputs) if self._outputs_list else graph.outputs[0]

    @property
    def input_names(self):
        return None if self._graph is None else [t.node.layer.name for t in self._graph.inputs]

    @property
    def output_names(self):
        return None if self._graph is None else [t.node.layer.name for t in self._graph.outputs]

    # ---- calling -------------------------------------------------------------------------------------------

    def build(self, input_shape):
        self._require_graph("layers to build")

    def call(self, inputs, training=None):
        values, _ = flatten(inputs)
        outputs = self._graph.run(values, training)
        return outputs if self._outputs_list else outputs[0]

    forward = Layer.forward  # internal layout in and out (Model.forward is the subclassed models')
    _maybe_build = Layer._maybe_build  # a Sequential without an input shape builds on its first call

    def __call__(self, inputs, training=None, **kwargs):
        """Keras's call (data or symbolic tensors, Keras layout), with the inputs checked against the model's."""
        if self._graph is not None:
            items, was_list = flatten(inputs)
            items = self.conform_inputs(items)
            inputs = items if was_list else items[0]
        return super().__call__(inputs, training=training, **kwargs)

    def conform_inputs(self, items):
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
        if graph is None:
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

    # ---- config (Keras 3's form) -----------------------------------------------------------------------------

    def get_config(self):
        graph = self._require_graph("config")
        # A layer may also have been called outside this model (a backbone used in two models): number only the
        # calls that belong to this graph, as Keras does, so that from_config finds them on the new layers.
        in_graph = {node.id for node in graph.nodes}
        node_index = {}
        for layer in graph.operations:
            calls = [node for node in layer.inbound_nodes if node.id in in_graph]
            node_index.update((node.id, i) for i, node in enumerate(calls))

        def history(tensor, io=False):
            layer = tensor.node.layer
            index = node_index[tensor.node.id]
            if io and isinstance(layer, Functional) and layer.counts_construction_node:
                index += 1
            return [layer.name, index, tensor.history[2]]

        def node_config(node):
            refs = [_tensor_ref(t, history(t)) for t in node.inputs]
            if node.layer.is_operation:  # Keras's form: the operands, constants in place
                return {"args": node.layer.node_arguments(refs), "kwargs": dict(node.call_kwargs)}
            return {"args": [refs] if node.input_is_list else refs, "kwargs": dict(node.call_kwargs)}

        layers = []
        for layer in graph.operations:
            spec = serialize(layer)
            spec["name"] = layer.name
            spec["inbound_nodes"] = [node_config(node) for node in layer.inbound_nodes
                                     if node.id in in_graph and not isinstance(layer, InputLayer)]
            layers.append(spec)
        inputs = [history(t, io=True) for t in graph.inputs]
        outputs = [history(t, io=True) for t in graph.outputs]
        return {"name": self.name, "trainable": self.trainable, "dtype": Layer.get_config(self)["dtype"],
                "layers": layers, "input_layers": inputs if self._inputs_list else inputs[0],
                "output_layers": outputs if self._outputs_list else outputs[0]}

    @classmethod
    def from_config(cls, config):
        return functional_from_config(config)


def _tensor_ref(tensor, history):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": tensor.dtype, "keras_history": history}}


def _node_calls(spec):
    """A layer spec's recorded calls as (input histories, inputs given as a list, call kwargs).

    Reads Keras 3's form ({'args': [[t, t]]} for a list argument, {'args': [t]} otherwise), tf.keras 2's
    ([[layer, node, tensor, kwargs], ...]) and the form of files from earlier cnnkit versions
    ({'args': [t, ...], 'as_list': ...}).
    """
    calls = []
    for call in spec.get("inbound_nodes") or []:
        template = None
        if isinstance(call, dict):
            args = list(call.get("args") or [])
            kwargs = {k: v for k, v in (call.get("kwargs") or {}).items() if v is not None}
            if any(not _is_tensor_ref(a) for a in args) and not (len(args) == 1 and isinstance(args[0], list)):
                # An operation's operands with constants (Keras 3's `x + 3.0`): None marks a tensor.
                template = [None if _is_tensor_ref(a) else a for a in args]
                refs = [a for a in args if _is_tensor_ref(a)]
                as_list = len(refs) > 1
            elif "as_list" in call:
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
        calls.append((histories, as_list, kwargs, template))
    return calls


def _is_tensor_ref(arg):
    return isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"


def _io_refs(value, listed):
    """input_layers / output_layers as (list of (layer, node, tensor), given as a list). Keras writes a single
    input as one [layer, node, tensor] triple and a list of inputs as a list of triples."""
    if value and isinstance(value[0], str):
        return [tuple(value)], False
    return [tuple(ref) for ref in value], True if listed is None else listed


def functional_from_config(config):
    """Rebuilds a functional Model from its config (new layers, new weights): Keras 3's functional config (also
    tf.keras 2's, and earlier cnnkit versions')."""
    created, tensors = {}, {}
    specs = require(config, "layers", list, "a list", field=config_place())
    for i, spec in enumerate(specs):
        layer = deserialize(spec, f"config.layers[{i}]")
        name = require(spec, "name", str, "a string", field=f"{config_place()}.layers[{i}]")
        if name in created:
            raise ValueError(f"Model config: two layers are named '{name}'.")
        created[name] = layer
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
                histories, as_list, kwargs, template = queue.pop(0)
                layer = created[name]
                if template is not None:
                    if not layer.is_operation:
                        raise ValueError(f"Model config: layer '{name}' is called with constant arguments "
                                         f"{[a for a in template if a is not None]}, which only operations take.")
                    layer.set_arguments(template)
                if kwargs.get("training") is True and call_training_default(type(layer)) is True:
                    kwargs = {k: v for k, v in kwargs.items() if k != "training"}  # Keras's default, not a choice
                args = [tensors[ref] for ref in histories]
                out = layer(args if as_list else args[0], **kwargs)
                node_index = len(layer.inbound_nodes) - 1
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
        if keras_form and isinstance(layer, Functional) and layer.counts_construction_node:
            node -= 1
        if (name, node, index) not in tensors:
            raise ValueError(f"Model config: the model's inputs/outputs name the tensor {list(ref)}, which no layer "
                             "of the config produces.")
        return tensors[(name, node, index)]

    inputs = [tensor(ref) for ref in input_refs]
    outputs = [tensor(ref) for ref in output_refs]
    return Functional(inputs if inputs_list else inputs[0], outputs if outputs_list else outputs[0],
                      name=config.get("name"), trainable=config.get("trainable", True), dtype=config.get("dtype"))
