"""The layer graph of a functional model: walk, order, validate, and run.

`Graph(inputs, outputs)` walks the nodes recorded by symbolic layer calls back from `outputs` (every path must reach
one of `inputs`, which are `Input` tensors: `cnnkit.models.functional.connect` makes them so), orders them (creation
order is a topological order, since a node's inputs always exist before it), lists the layers in Keras's order (by
depth, which `get_weights()` and the summary follow), and compiles a flat execution plan of slot indices: running
the model is one loop over that plan with no dictionary lookups and with intermediate tensors released after their
last use.

Each step of the plan runs one layer through `torch.nn.Module.__call__`, so hooks and the layer's dtype policy
(`Layer.forward`) apply. The plan can be rewritten by a pass (`Graph.rewrite`); the opt-in speed rewrites live in
`cnnkit.models.fusion`, which the graph does not know about.
"""

import torch

from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.models.connect import disconnected

_module_call = torch.nn.Module.__call__


class Step:
    """One layer call in the plan: slots in, slots out, and slots to release afterwards.

    Attributes:
        layer: the layer called.
        ins, outs: slot indices of the call's input and output tensors.
        in_list, out_list: whether the layer takes / returns a list.
        training: the call's own `training=` argument (None: the model's).
        release: slots whose value is dropped after this step.
    """

    __slots__ = ("layer", "ins", "in_list", "outs", "out_list", "training", "release")

    def __init__(self, node, slot_of):
        self.layer = node.layer
        self.ins = [slot_of[id(t)] for t in node.inputs]
        self.in_list = node.input_is_list
        self.outs = [slot_of[id(t)] for t in node.outputs]
        self.out_list = node.output_is_list
        self.training = node.call_kwargs.get("training")
        self.release = []

    @property
    def layers(self):
        """Every layer this step runs (a fused step of `cnnkit.models.fusion` runs several)."""
        return [self.layer]

    def run(self, slots, training):
        training = training if self.training is None else self.training
        args = [slots[i] for i in self.ins]
        out = _module_call(self.layer, args if self.in_list else args[0], training=training)
        if self.out_list:
            for i, value in zip(self.outs, out):
                slots[i] = value
        else:
            slots[self.outs[0]] = out
        for i in self.release:
            slots[i] = None


class Graph:
    """A validated, ordered layer graph from `inputs` to `outputs` (lists of SymbolicTensor from `Input`)."""

    def __init__(self, inputs, outputs, owner="Model"):
        self.inputs, self.outputs = list(inputs), list(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"{owner}: inputs and outputs must be symbolic tensors (from Input and layer calls). "
                                f"Received: {t!r}")
        for t in self.inputs:
            if not isinstance(t.history[0], InputLayer):
                raise ValueError(f"{owner}: every input must come from Input(...). Received: {t!r}")
        post_order, first_seen = self._walk()
        self.nodes = sorted(post_order, key=lambda n: n.id)
        # Every called layer, Keras's operations too (`x + 3.0`); `layers` are those that are layers in Keras.
        self.operations = self._keras_layer_order(post_order, first_seen)
        self.layers = [op for op in self.operations if not op.is_operation]
        names = [layer.name for layer in self.operations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{owner}: all layer names must be unique. Repeated: {duplicates}")
        self._compile()

    def _walk(self):
        """Depth-first walk back from the outputs, as Keras's `_build_map` does.

        Returns:
            (nodes in post-order (every node after the nodes it takes inputs from), {id(layer): index of the
            first visit, in pre-order}).
        """
        input_ids = {id(t) for t in self.inputs}
        finished, post_order, first_seen = set(), [], {}

        def enter(tensor):
            node = tensor.node
            layer = node.layer
            if node.id in finished:
                return None
            if isinstance(layer, InputLayer) and id(tensor) not in input_ids:
                raise disconnected(tensor, self.inputs)
            first_seen.setdefault(id(layer), len(first_seen))
            return [node, 0]

        for output in self.outputs:
            root = enter(output)
            stack = [] if root is None else [root]
            while stack:
                frame = stack[-1]
                node, position = frame
                if position < len(node.inputs):
                    frame[1] += 1
                    child = enter(node.inputs[position])
                    if child is not None:
                        stack.append(child)
                else:
                    stack.pop()
                    finished.add(node.id)
                    post_order.append(node)
        return post_order, first_seen

    def _keras_layer_order(self, post_order, first_seen):
        """The layers in Keras's order: by decreasing depth (distance to the outputs), ties in walk order.

        Keras orders a functional model's `layers` (and so `weights`, `get_weights()`, the summary rows) this
        way, not in creation order; following it lets `set_weights(keras_model.get_weights())` port weights.
        A shared layer takes the largest depth of its calls; inputs that no output depends on come at depth 0.
        """
        node_depth, layer_depth = {}, {}
        in_graph = {node.id for node in post_order}
        for node in reversed(post_order):
            depth = max(node_depth.setdefault(node.id, 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = node_depth[node.id] = depth
            for parent in node.parent_nodes:
                if parent.id in in_graph:
                    node_depth[parent.id] = max(depth + 1, node_depth.get(parent.id, 0))
        layers = {id(node.layer): node.layer for node in post_order}
        for tensor in self.inputs:
            layer = tensor.history[0]
            if id(layer) not in layer_depth:
                layers[id(layer)], layer_depth[id(layer)], first_seen[id(layer)] = layer, 0, -1
        return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))

    def _compile(self):
        tensors = list(self.inputs)
        for node in self.nodes:
            if not isinstance(node.layer, InputLayer):
                tensors.extend(node.outputs)
        self.slot_of = {}
        for tensor in tensors:
            self.slot_of.setdefault(id(tensor), len(self.slot_of))
        self.input_slots = [self.slot_of[id(t)] for t in self.inputs]
        self.output_slots = [self.slot_of[id(t)] for t in self.outputs]
        self.steps = [Step(n, self.slot_of) for n in self.nodes if not isinstance(n.layer, InputLayer)]
        self._set_releases()

    def _set_releases(self):
        last_use = {}
        for index, step in enumerate(self.steps):
            step.release = []
            for slot in step.ins:
                last_use[slot] = index
        kept = set(self.output_slots)
        for slot, index in last_use.items():
            if slot not in kept:
                self.steps[index].release.append(slot)

    def rewrite(self, rewrite_pass):
        """Replaces the plan by `rewrite_pass(steps, output_slots)` (a list of steps computing the same slots)."""
        self.steps = rewrite_pass(self.steps, self.output_slots)
        self._set_releases()

    def run(self, values, training=False):
        """Runs the plan on internal-layout tensors (one per input); returns the list of outputs."""
        slots = [None] * len(self.slot_of)
        for slot, value in zip(self.input_slots, values):
            slots[slot] = value
        for step in self.steps:
            step.run(slots, training)
        return [slots[i] for i in self.output_slots]

    def output_shapes(self, input_shapes):
        """Keras-layout output shapes for new input shapes, by tracing compute_output_shape through the nodes."""
        shapes = {}
        for tensor, shape in zip(self.inputs, input_shapes):
            shapes[id(tensor)] = tuple(shape)
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            ins = [shapes[id(t)] for t in node.inputs]
            out = node.layer.compute_output_shape(ins if node.input_is_list else ins[0])
            for tensor, shape in zip(node.outputs, out if node.output_is_list else [out]):
                shapes[id(tensor)] = tuple(shape)
        return [shapes[id(t)] for t in self.outputs]
