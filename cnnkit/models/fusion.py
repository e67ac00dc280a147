"""Speed rewrites of a functional model's execution plan, declared by the layers themselves.

`fuse(steps, output_slots)` is a pass for `Graph.rewrite`: it replaces chains of steps by fused steps that compute
the same values with fewer passes over the activations. The executor (`cnnkit.models.graph`) never names a layer
class; a layer takes part by declaring what it can do (see `cnnkit.layers.base.Layer`):

- `activation_split()` -> (linear, activation): the layer computes `activation(linear(x))` (convolutions).
- `commutes_with_monotonic`: `layer(f(x)) == f(layer(x))` for every non-decreasing element-wise f (max pooling).
  With a monotonic activation (`cnnkit.activations.MONOTONIC`), linear -> max pool -> activation is exactly equal
  (max commutes with a non-decreasing function, ties included) and runs the activation on 4x fewer values for 2x2
  pooling.
- `channel_affine(training)` -> (scale, shift) or None: in this call the layer is `x * scale + shift` per channel
  (BatchNormalization in inference mode); `fold_channel_affine(scale, shift)` -> function: the layer's linear part
  with that affine map folded into its weights (convolutions). Folded, conv -> BatchNormalization (-> an
  element-wise activation layer, `elementwise_activation`) runs as one convolution: the same function up to float
  rounding (about 1e-6 relative), without the extra passes over the activations (ResNet inference, frozen
  backbones). It is used only while no weight of the chain needs a gradient, and the folded weights are kept until
  a weight changes.

Fusion happens only for chains whose intermediate tensors nothing else reads, whose layers share one dtype policy
(the fused computation runs under it, as `Layer.forward` would) and that have no call-level `training=` override;
at run time a step falls back to calling each layer (as a module, hooks included) when a forward hook is
registered. Set `ENABLED = False` to run every layer through its own call.
"""

import torch

from cnnkit import activations
from cnnkit import mixed_precision
from cnnkit.models.graph import Step
from cnnkit.models.graph import _module_call

ENABLED = True


def _no_hooks(layer):
    return not (layer._forward_hooks or layer._forward_pre_hooks or torch.nn.modules.module._global_forward_hooks
                or torch.nn.modules.module._global_forward_pre_hooks)


def _policy_name(layer):
    return layer.dtype_policy.name


class FusedStep(Step):
    """A chain of single-input layer calls run as one computation; `chain` lists the layers in order."""

    __slots__ = ("chain", "_cache")

    def __init__(self, first, chain):
        for name in Step.__slots__:
            setattr(self, name, getattr(first, name))
        self.chain, self._cache = chain, None

    @property
    def layers(self):
        return list(self.chain)

    def compute(self, x, training):
        raise NotImplementedError

    def run(self, slots, training):
        training = training if self.training is None else self.training
        x = slots[self.ins[0]]
        if not all(_no_hooks(layer) for layer in self.chain):  # a hook was registered after the plan was made
            for layer in self.chain:
                x = _module_call(layer, x, training=training)
        elif mixed_precision.in_use():
            x = mixed_precision.call_with_policy(self.chain[0], x, training, call=self.compute)
        else:
            x = self.compute(x, training)
        slots[self.outs[0]] = x
        for i in self.release:
            slots[i] = None


class LinearPoolActivation(FusedStep):
    """linear -> (max) pooling -> activation, for a layer computing activation(linear(x)) then a pooling that
    commutes with that (monotonic) activation."""

    def compute(self, x, training):
        producer, pool = self.chain
        linear, activation = producer.activation_split()
        return activations.apply(activation, pool.call(linear(x), training=training))


class FoldedAffine(FusedStep):
    """A linear layer, a per-channel affine layer folded into it, and optionally an element-wise activation."""

    def compute(self, x, training):
        producer, affine_layer = self.chain[0], self.chain[1]
        affine = affine_layer.channel_affine(training)
        weights = producer.weights + affine_layer.weights
        if affine is None or (torch.is_grad_enabled() and any(w.requires_grad for w in weights)):
            for layer in self.chain:  # batch statistics, or training the weights: layer by layer
                x = _module_call(layer, x, training=training)
            return x
        key = tuple((w.data_ptr(), w._version, w.device) for w in weights)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, producer.fold_channel_affine(*affine))
        y = self._cache[1](x)
        if len(self.chain) == 2:
            return y
        activation = self.chain[2].elementwise_activation
        return y.relu_() if activation is activations.relu else activation(y)


def _chainable(step, prev, consumers, output_slots):
    """`step` reads only `prev`'s single output, which nothing else reads, with the same policy and no override."""
    return (step.training is None and prev.training is None and len(step.ins) == 1 and len(prev.outs) == 1
            and not step.in_list and not prev.out_list and step.ins == prev.outs
            and consumers.get(prev.outs[0]) == 1 and prev.outs[0] not in output_slots
            and _policy_name(step.layer) == _policy_name(prev.layer))


def _pool_fusion(prev, step):
    split = prev.layer.activation_split()
    if split is None or not getattr(step.layer, "commutes_with_monotonic", False):
        return None
    if split[1] not in activations.MONOTONIC or not _no_hooks(prev.layer) or not _no_hooks(step.layer):
        return None
    return LinearPoolActivation(prev, [prev.layer, step.layer])


def _affine_fusion(prev, step):
    split = prev.layer.activation_split()
    if (split is None or split[1] is not activations.linear or not step.layer.built
            or not step.layer.folds_into_linear):
        return None
    return FoldedAffine(prev, [prev.layer, step.layer])


def fuse(steps, output_slots):
    """The plan with every fusable chain replaced by one fused step (see the module docstring)."""
    if not ENABLED:
        return list(steps)
    consumers = {}
    for step in steps:
        for slot in step.ins:
            consumers[slot] = consumers.get(slot, 0) + 1
    fused = []
    for step in steps:
        prev = fused[-1] if fused else None
        replacement = None
        if prev is not None and _chainable(step, prev, consumers, output_slots):
            if type(prev) is Step:
                replacement = _pool_fusion(prev, step) or _affine_fusion(prev, step)
            elif (isinstance(prev, FoldedAffine) and len(prev.chain) == 2
                  and step.layer.elementwise_activation is not None):
                replacement = FoldedAffine(prev, prev.chain + [step.layer])
        if replacement is None:
            fused.append(step)
        else:
            replacement.outs = step.outs
            fused[-1] = replacement
    return fused


def fused_chains(model):
    """The layer names of each fused step in a built functional model's plan, e.g. [['conv', 'bn', 'relu']]."""
    model.nodes  # noqa: B018 (raises the model's own error when it has no graph)
    return [[layer.name for layer in step.layers] for step in model._graph.steps if isinstance(step, FusedStep)]
