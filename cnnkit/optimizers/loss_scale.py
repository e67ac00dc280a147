"""`LossScaleOptimizer`: Keras 3's dynamic loss scaling for float16 training, over another optimizer."""

import torch

from cnnkit.optimizers.base import Optimizer

_BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                  "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _inner(name):
    """A property that reads and writes the inner optimizer's attribute `name`."""
    return property(lambda self: getattr(self.inner_optimizer, name),
                    lambda self, value: setattr(self.inner_optimizer, name, value))


class LossScaleOptimizer(Optimizer):
    """Wraps an optimizer with dynamic loss scaling (Keras 3's rules).

    The training step multiplies the loss by `dynamic_scale` (`scale_loss`), so small float16 gradients do not
    underflow; `apply` divides the gradients by it again. If any gradient is inf or NaN the step is skipped (the
    inner optimizer, its slots and its `iterations` are left alone), the scale is halved and the growth counter
    restarts; after `dynamic_growth_steps` finite steps in a row the scale is doubled.

    `compile()` wraps the optimizer in one automatically when the model's dtype policy is 'mixed_float16'
    (Keras's `auto_scale_loss=True`).

    Args:
        inner_optimizer: the `Optimizer` to wrap.
        initial_scale: the first loss scale (default 2**15).
        dynamic_growth_steps: finite steps between doublings of the scale (default 2000).
        name: default 'loss_scale_optimizer'.

    Example:
        >>> from cnnkit import optimizers
        >>> opt = optimizers.LossScaleOptimizer(optimizers.Adam(1e-3))
        >>> opt.dynamic_scale
        32768.0

    Note:
        torch.amp.GradScaler's rule with Keras's defaults (GradScaler: initial 2**16, growth interval 2000). Deciding
        whether to skip reads one flag from the device, so a float16 step on a GPU waits for its gradients (one
        host sync per step, as with GradScaler); other precisions never sync.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Received: dynamic=False")
        for arg, default in _BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{arg}`. Instead, set `{arg}` on the "
                                 f"`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: {sorted(kwargs)}.")
        if isinstance(inner_optimizer, dict):  # from a config (cnnkit's or Keras's: options None or EMA's dropped)
            from cnnkit import optimizers  # noqa: PLC0415 (the package imports this module)
            options = {k: v for k, v in (inner_optimizer.get("config") or {}).items() if v is not None}
            inner_optimizer = optimizers.get({"class_name": inner_optimizer.get("class_name"), "config": options})
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer must be a cnnkit Optimizer (not itself a "
                            f"LossScaleOptimizer). Received: inner_optimizer={inner_optimizer!r}")
        if not isinstance(initial_scale, (int, float)) or isinstance(initial_scale, bool) or initial_scale <= 0:
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a float > 0. Received: "
                             f"initial_scale={initial_scale!r}")
        if not isinstance(dynamic_growth_steps, int) or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer: dynamic_growth_steps must be an int >= 1. Received: "
                             f"dynamic_growth_steps={dynamic_growth_steps!r}")
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = dynamic_growth_steps
        self.dynamic_scale = float(initial_scale)
        self.step_counter = 0
        self.name = name or "loss_scale_optimizer"
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None

    # the inner optimizer's state, seen through the wrapper (callbacks read and set the learning rate; model
    # files read and write `_variables`, in cnnkit's layout: see the README)
    iterations = _inner("iterations")
    learning_rate = lr = _inner("learning_rate")
    _variables = _inner("_variables")

    @property
    def _learning_rate(self):
        return self.inner_optimizer._learning_rate

    def build(self, variables):
        self.inner_optimizer.build(variables)

    def slots(self):
        return self.inner_optimizer.slots()

    @property
    def needs_weight_layouts(self):
        return self.inner_optimizer.needs_weight_layouts

    def set_weight_layouts(self, layouts):
        self.inner_optimizer.set_weight_layouts(layouts)

    def state_slots(self):
        return self.inner_optimizer.state_slots()

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def __getattr__(self, name):  # other state of the inner optimizer (Nadam's u_product, Adam's _steps)
        if name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.inner_optimizer, name)

    def scale_loss(self, loss):
        """`loss` times the current loss scale (what the training step differentiates)."""
        return loss * self.dynamic_scale

    @torch.no_grad()
    def apply(self, grads, variables):
        """Unscales `grads`, then updates `variables` with the inner optimizer, or skips the step (halving the
        scale) when a gradient is not finite. `grads` are left unchanged."""
        self._apply(list(grads), list(variables), in_place=False)

    def step(self, variables):
        """As `apply`, reading each `variable.grad` (unscaled in place; what `fit` uses)."""
        variables = list(variables)
        self._apply([v.grad for v in variables], variables, in_place=True)

    @torch.no_grad()
    def _apply(self, grads, variables, in_place):
        if not in_place:
            grads = [None if g is None else g.clone() for g in grads]
        present = [g for g in grads if g is not None]
        if not present:
            return
        device = present[0].device
        found_inf = torch.zeros(1, device=device)
        inv_scale = torch.full((1,), 1.0 / self.dynamic_scale, device=device)
        torch._amp_foreach_non_finite_check_and_unscale_(present, found_inf, inv_scale)
        if found_inf.item():  # the one host read: skip the step, as Keras
            self.dynamic_scale *= 0.5
            self.step_counter = 0
            return
        self.inner_optimizer.apply(grads, variables)
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.dynamic_scale *= 2.0
            self.step_counter = 0
        else:
            self.step_counter += 1

    def get_config(self):
        from cnnkit import optimizers  # noqa: PLC0415
        return {"name": self.name, "inner_optimizer": optimizers.serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
