"""Speed rewrites of a functional model's execution plan, declared by the layers themselves.

`fuse(steps, output_slots)` is a pass for `Graph.rewrite`: it replaces chains of steps by fused steps that compute
the same values with fewer passes over the activations. The executor (`cnnkit.models.graph`) never names a layer
class; a layer takes part by declaring what it can do (see `cnnkit.layers.base.Layer`):

- `activation_split()` -> (linear, activation): the layer computes `activation(linear(x))` (convolutions).
- `bias_split()` -> (linear without the bias, bias): that linear part adds a per-channel bias (convolutions).
- `elementwise_activation` -> function or None, and `monotonic`: an activation layer after a linear one joins it.
- `commutes_with_monotonic`: `layer(f(x)) == f(layer(x))` for every non-decreasing element-wise f (max pooling).
  With a monotonic activation (`cnnkit.activations.MONOTONIC`, or an activation layer declaring `monotonic`),
  linear -> activation -> max pool runs as linear -> max pool -> activation: exactly equal (max commutes with a
  non-decreasing function, ties included), with the activation on 4x fewer values for 2x2 pooling. While a
  convolution's bias is trained, it (`bias_split()`, a per-channel constant: non-decreasing too) is added after
  the pooling as well.
- `is_channel_affine(training)`: in this call the layer is `x * scale + shift` per channel, with (scale, shift) from
  `channel_affine()` (BatchNormalization in inference mode); `fold_channel_affine(scale, shift)` -> function: the
  layer's linear part with that affine map folded into its weights (convolutions, `absorbs_channel_affine`).
  Folded, conv -> BatchNormalization (-> an element-wise activation layer) (-> max pooling) runs as one
  convolution (and the pooling before the activation): the same function up to float rounding (about 1e-6
  relative), without the extra passes over the activations (ResNet and MobileNet inference, frozen backbones). It
  is used only while no weight of the chain needs a gradient, and the folded weights are kept until a weight
  changes.

Fusion happens only for chains of layers computing as declared (a user's subclass overriding `call` or `convolve`
is left alone), whose intermediate tensors nothing else reads, whose layers share one dtype policy
(the fused computation runs under it, as `Layer.forward` would) and the same call-level `training=` argument; at
run time a step falls back to calling each layer (as a module, hooks included) when a forward or backward hook is
registered. Set `ENABLED = False` to run every layer through its own call.
"""

import torch

from cnnkit import activations
from cnnkit import mixed_precision
from cnnkit.models.graph import Step
from cnnkit.models.graph import _module_call

ENABLED = True


def _no_hooks(layer):
    """No forward or backward hook on `layer` or on every module (torch keeps them in these private tables)."""
    module = torch.nn.modules.module
    return not (layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks
                or layer._backward_pre_hooks or module._global_forward_hooks or module._global_forward_pre_hooks
                or module._global_backward_hooks or module._global_backward_pre_hooks)


def _as_declared(layer):
    """The layer computes what its declarations describe: its `call` (and a convolution's `convolve`) is cnnkit's
    own. A user's subclass that overrides them (a Conv2D whose `call` adds something) runs as written, unfused."""
    return all(getattr(type(layer), name).__module__.startswith("cnnkit.")
               for name in ("call", "convolve") if hasattr(type(layer), name))


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


def _activate(activation, y):
    return y.relu_() if activation is activations.relu else activations.apply(activation, y)


class LinearPoolActivation(FusedStep):
    """linear -> (max) pooling -> activation, for a layer computing activation(linear(x)) (or a linear layer and an
    element-wise activation layer) then a pooling that commutes with that monotonic activation.

    When the bias of a linear layer declaring `bias_split` (a convolution with a bias) is being trained, the layer
    runs without it and the bias is added after the pooling: adding a per-channel constant is non-decreasing too,
    and pooling acts on each channel alone. That spares the convolution's backward pass its bias reduction over
    the full-size gradient. Under a float policy only: in a mixed one the addition would promote the pooled tensor
    to float32."""

    __slots__ = ("activation",)

    def __init__(self, first, chain, activation):
        super().__init__(first, chain)
        self.activation = activation

    def compute(self, x, training):
        producer, pool = self.chain[0], self.chain[-1]
        trains_bias = torch.is_grad_enabled() and not producer.dtype_policy.is_mixed
        split = producer.bias_split() if trains_bias else None
        if split is None or not split[1].requires_grad:  # the gain is in the backward pass
            return _activate(self.activation, pool.call(producer.activation_split()[0](x), training=training))
        linear, bias = split
        y = pool.call(linear(x), training=training)
        return _activate(self.activation, y + bias.view(1, -1, *[1] * (y.dim() - 2)))  # amax keeps y: no add_


class FoldedAffine(FusedStep):
    """A linear layer with a per-channel affine layer folded into it, then optionally an element-wise activation
    layer and a pooling (run before the activation, which is then monotonic)."""

    __slots__ = ("activation", "pool")

    def __init__(self, first, chain, activation=None, pool=None):
        super().__init__(first, chain)
        self.activation, self.pool = activation, pool

    def compute(self, x, training):
        producer, affine_layer = self.chain[0], self.chain[1]
        weights = producer.weights + affine_layer.weights
        if (not affine_layer.is_channel_affine(training)
                or (torch.is_grad_enabled() and any(w.requires_grad for w in weights))):
            for layer in self.chain:  # batch statistics, or training the weights: layer by layer
                x = _module_call(layer, x, training=training)
            return x
        key = tuple((w.data_ptr(), w._version, w.device) for w in weights)
        if self._cache is None or self._cache[0] != key:  # the folded weights, kept until a weight changes
            with torch.no_grad():
                self._cache = (key, producer.fold_channel_affine(*affine_layer.channel_affine()))
        y = self._cache[1](x)
        if self.pool is not None:
            y = self.pool.call(y, training=training)
        return y if self.activation is None else _activate(self.activation, y)


def _chainable(step, prev, consumers, output_slots):
    """`step` reads only `prev`'s single output, which nothing else reads, with the same policy and `training=`."""
    return (type(step) is Step and step.training == prev.training and len(step.ins) == 1
            and len(prev.outs) == 1 and not step.in_list and not prev.out_list and step.ins == prev.outs
            and consumers.get(prev.outs[0]) == 1 and prev.outs[0] not in output_slots
            and _policy_name(step.layer) == _policy_name(prev.layer))


def _fused(steps):
    """The fused step for a chain of plain steps [linear layer, (affine), (activation layer), (pooling)], or None
    when the chain is not one of the patterns (or gains nothing)."""
    producer = steps[0].layer
    split = producer.activation_split()
    if split is None or not all(_no_hooks(step.layer) and _as_declared(step.layer) for step in steps):
        return None
    rest = [step.layer for step in steps[1:]]
    affine = rest.pop(0) if rest and rest[0].folds_into_linear and producer.absorbs_channel_affine else None
    activation_layer = rest.pop(0) if rest and rest[0].elementwise_activation is not None else None
    pool = rest.pop(0) if rest and rest[0].commutes_with_monotonic else None
    if rest or (split[1] is not activations.linear and (affine or activation_layer)):
        return None
    layers = [step.layer for step in steps]
    monotonic = (activation_layer.monotonic if activation_layer is not None
                 else split[1] in activations.MONOTONIC)
    if pool is not None and not monotonic:
        return None
    if affine is not None:
        activation = None if activation_layer is None else activation_layer.elementwise_activation
        return FoldedAffine(steps[0], layers, activation, pool)
    if pool is not None:
        activation = split[1] if activation_layer is None else activation_layer.elementwise_activation
        return LinearPoolActivation(steps[0], layers, activation)
    return None


def fuse(steps, output_slots):
    """The plan with every fusable chain replaced by one fused step (see the module docstring)."""
    if not ENABLED:
        return list(steps)
    consumers = {}
    for step in steps:
        for slot in step.ins:
            consumers[slot] = consumers.get(slot, 0) + 1
    fused, index = [], 0
    while index < len(steps):
        chain = [steps[index]]
        while (len(chain) < 4 and index + len(chain) < len(steps)
               and _chainable(steps[index + len(chain)], chain[-1], consumers, output_slots)):
            chain.append(steps[index + len(chain)])
        # the longest prefix of the chain that is a pattern
        best = next(((n, step) for n in range(len(chain), 1, -1) for step in [_fused(chain[:n])] if step), None)
        if best is None:
            fused.append(steps[index])
            index += 1
            continue
        n, step = best
        step.outs = chain[n - 1].outs
        fused.append(step)
        index += n
    return fused


def fused_chains(model):
    """The layer names of each fused step in a built functional model's plan, e.g. [['conv', 'bn', 'relu']]."""
    model.nodes  # noqa: B018 (raises the model's own error when it has no graph)
    return [[layer.name for layer in step.layers] for step in model._graph.steps if isinstance(step, FusedStep)]
