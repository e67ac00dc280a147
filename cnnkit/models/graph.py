"""The layer graph of a functional model: walk, order, validate, and run.

`Graph(inputs, outputs)` walks the nodes recorded by symbolic layer calls back from `outputs`, orders them
(creation order is a topological order, since a node's inputs always exist before it), lists the layers in
Keras's order (by depth, which `get_weights()` and the summary follow), checks every path reaches one of
`inputs`, and compiles a flat execution plan of slot indices: running the model is one loop over
that plan with no dictionary lookups and with intermediate tensors released after their last use.

Two rewrites are applied to the plan. A convolution whose activation is monotonic (relu, sigmoid, tanh, ...)
followed only by a max pooling computes pool(conv(x)) and then the activation. This is exactly equal (max commutes
with a non-decreasing function, ties included) and runs the activation on 4x fewer values for 2x2 pooling.
A convolution without activation followed only by a BatchNormalization (and a relu Activation) runs, whenever the
BatchNormalization is in inference mode (inference, or `trainable = False`) and no weight of the two needs a
gradient, as one convolution with the normalization folded into its kernel and bias (kept until a weight changes)
and an in-place relu: the same function up to float rounding (about 1e-6 relative), without the two extra passes
over the activations (ResNet inference and frozen backbones). Set `OPTIMIZE = False` to run every layer through its
own call.
"""

import torch

from cnnkit import activations
from cnnkit.layers.convolutional import BaseConv
from cnnkit.layers.core import Activation
from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.layers.normalization import BatchNormalization
from cnnkit.layers.pooling import BasePooling
from cnnkit.ops import layout
from cnnkit.ops import nn

OPTIMIZE = True
_module_call = torch.nn.Module.__call__


class Step:
    """One layer call in the plan: slots in, slots out, and slots to release afterwards."""

    __slots__ = ("layer", "ins", "in_list", "outs", "out_list", "training", "release", "fused_pool", "fused_bn",
                 "fused_act", "_folded")

    def __init__(self, node, slot_of):
        self.layer = node.layer
        self.ins = [slot_of[id(t)] for t in node.inputs]
        self.in_list = node.input_is_list
        self.outs = [slot_of[id(t)] for t in node.outputs]
        self.out_list = node.output_is_list
        self.training = node.call_kwargs.get("training")
        self.release = []
        self.fused_pool = self.fused_bn = self.fused_act = self._folded = None

    @property
    def layers(self):
        """Every layer this step runs (the fused ones included)."""
        return [layer for layer in (self.layer, self.fused_pool, self.fused_bn, self.fused_act) if layer is not None]

    def run(self, slots, training):
        training = training if self.training is None else self.training
        conv, pool = self.layer, self.fused_pool
        if self.fused_bn is not None:
            slots[self.outs[0]] = self._conv_bn(slots[self.ins[0]], training)
        elif pool is not None and _no_hooks(conv) and _no_hooks(pool):
            y = pool.call(conv.convolve(slots[self.ins[0]]))
            slots[self.outs[0]] = activations.apply(conv.activation, y)
        elif pool is not None:  # a hook was registered after the plan was made: run both layers as modules
            y = _module_call(conv, slots[self.ins[0]], training=training)
            slots[self.outs[0]] = _module_call(pool, y, training=training)
        else:
            args = [slots[i] for i in self.ins]
            out = _module_call(self.layer, args if self.in_list else args[0], training=training)
            if self.out_list:
                for i, value in zip(self.outs, out):
                    slots[i] = value
            else:
                slots[self.outs[0]] = out
        for i in self.release:
            slots[i] = None

    def _conv_bn(self, x, training):
        """conv -> BatchNormalization (-> relu): folded when the normalization is in inference mode and no weight
        needs a gradient, else layer by layer."""
        conv, bn, act = self.layer, self.fused_bn, self.fused_act
        weights = [w for w in (conv.kernel, conv.bias, bn.gamma, bn.beta) if w is not None]
        if ((training and bn.trainable) or not all(_no_hooks(layer) for layer in self.layers)
                or (torch.is_grad_enabled() and any(w.requires_grad for w in weights))):
            y = _module_call(bn, _module_call(conv, x, training=training), training=training)
            return y if act is None else _module_call(act, y, training=training)
        kernel, bias = self._folded_weights(weights + [bn.moving_mean, bn.moving_variance])
        y = nn.conv(x, kernel, bias, conv.strides, conv.padding, conv.dilation_rate, conv.groups)
        return y if act is None else y.relu_()

    def _folded_weights(self, tensors):
        key = tuple((t.data_ptr(), t._version, t.device) for t in tensors)
        if self._folded is None or self._folded[0] != key:
            conv, bn = self.layer, self.fused_bn
            with torch.no_grad():
                scale = torch.rsqrt(bn.moving_variance + bn.epsilon)
                if bn.gamma is not None:
                    scale = scale * bn.gamma
                kernel = layout.channels_last_kernel(conv.kernel * scale.reshape(-1, *[1] * (conv.kernel.dim() - 1)))
                bias = -bn.moving_mean if conv.bias is None else conv.bias - bn.moving_mean
                bias = bias * scale if bn.beta is None else bias * scale + bn.beta
            self._folded = (key, kernel, bias)
        return self._folded[1], self._folded[2]


class Graph:
    """A validated, ordered layer graph from `inputs` to `outputs` (lists of SymbolicTensor)."""

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
        self.layers = self._keras_layer_order(post_order, first_seen)
        names = [layer.name for layer in self.layers]
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
            layer, node_index, _ = tensor.history
            node = layer._inbound_nodes[node_index]
            if node.id in finished:
                return None
            if isinstance(layer, InputLayer) and id(tensor) not in input_ids:
                names = [t.name for t in self.inputs]
                raise ValueError(f"Graph disconnected: cannot obtain the value of tensor {tensor!r} (input layer "
                                 f"'{layer.name}'). The model's inputs are {names}; pass this one in `inputs` too.")
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
        if OPTIMIZE:
            self._fuse_conv_max_pool()
            self._fuse_conv_batch_norm()
        last_use = {}
        for index, step in enumerate(self.steps):
            for slot in step.ins:
                last_use[slot] = index
        kept = set(self.output_slots)
        for slot, index in last_use.items():
            if slot not in kept:
                self.steps[index].release.append(slot)

    def _fuse_conv_max_pool(self):
        consumers = {}
        for step in self.steps:
            for slot in step.ins:
                consumers[slot] = consumers.get(slot, 0) + 1
        fused = []
        for step in self.steps:
            prev = fused[-1] if fused else None
            if (prev is not None and isinstance(step.layer, BasePooling) and step.layer.mode == "max"
                    and isinstance(prev.layer, BaseConv) and prev.fused_pool is None and prev.training is None
                    and prev.layer.activation in activations.MONOTONIC and step.ins == prev.outs
                    and consumers.get(prev.outs[0]) == 1 and prev.outs[0] not in self.output_slots
                    and _no_hooks(prev.layer) and _no_hooks(step.layer)):
                prev.fused_pool = step.layer
                prev.outs = step.outs
                continue
            fused.append(step)
        self.steps = fused

    def _fuse_conv_batch_norm(self):
        consumers = {}
        for step in self.steps:
            for slot in step.ins:
                consumers[slot] = consumers.get(slot, 0) + 1

        def follows(step, prev):
            return (step.training is None and step.ins == prev.outs and consumers.get(prev.outs[0]) == 1
                    and prev.outs[0] not in self.output_slots)

        fused = []
        for step in self.steps:
            prev = fused[-1] if fused else None
            if prev is None or prev.training is not None or prev.fused_pool is not None:
                fused.append(step)
                continue
            if (prev.fused_bn is None and isinstance(prev.layer, BaseConv)
                    and prev.layer.activation is activations.linear and isinstance(step.layer, BatchNormalization)
                    and step.layer.built and step.layer._internal_axis == 1 and follows(step, prev)):
                prev.fused_bn, prev.outs = step.layer, step.outs
            elif (prev.fused_bn is not None and prev.fused_act is None and isinstance(step.layer, Activation)
                  and step.layer.activation is activations.relu and follows(step, prev)):
                prev.fused_act, prev.outs = step.layer, step.outs
            else:
                fused.append(step)
        self.steps = fused

    def run(self, values, training=False):
        """Runs the plan on internal-layout tensors (one per input); returns the list of outputs."""
        slots = [None] * len(self.slot_of)
        for slot, value in zip(self.input_slots, values):
            slots[slot] = value
        for step in self.steps:
            step.run(slots, training)
        return [slots[i] for i in self.output_slots]

    def output_shapes(self, input_shapes):
        """Keras-layout output shapes for new input shapes, by tracing compute_output_shape through the plan."""
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


def _no_hooks(layer):
    return not (layer._forward_hooks or layer._forward_pre_hooks or
                torch.nn.modules.module._global_forward_hooks or
                torch.nn.modules.module._global_forward_pre_hooks)
