"""`Optimizer`: Keras's optimizer API (names, defaults, clipping, weight decay, schedules) over torch tensors.

An optimizer updates a list of torch parameters from their gradients: `apply(grads, variables)`,
`apply_gradients(zip(grads, variables))`, or `step(variables)` reading each `variable.grad` (what `fit` uses).
Updates use torch's multi-tensor (`_foreach`) kernels and keep the step count and learning rate on the host, so
an update never waits for the device.

Subclasses implement `build_state(variables)` (slot tensors) and `update(variables, grads, lr)`.
"""

import warnings

import torch

from cnnkit.optimizers import schedules
from cnnkit.registry import check_kwargs
from cnnkit.registry import init_parameter_names


class Optimizer:
    """Base class of cnnkit optimizers.

    Args:
        learning_rate: a float or a `LearningRateSchedule` (called with the step count). The old keyword `lr`
            is accepted too (the seeds write `Adam(lr=0.01)`).
        weight_decay: decoupled weight decay: each step first does `w -= w * weight_decay * lr` (Keras's rule).
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm (at most one of the three clips).
        use_ema: keep an exponential moving average of the weights (updated after each step); `fit` puts it in the
            model at the end (`finalize_variable_values`), `SwapEMAWeights` swaps it in for evaluation.
        ema_momentum: the average's momentum (default 0.99): average = m * average + (1 - m) * weight.
        ema_overwrite_frequency: every this many steps, overwrite the weights with their average (default None).
        name: the optimizer's name.
        decay: Keras 2's learning-rate decay: accepted, ignored, with Keras 3's warning.
    """

    _defaults = {}
    needs_weight_layouts = False  # True where the update depends on how a weight's axes are laid out (Adafactor)

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name=None, **kwargs):
        if "lr" in kwargs:
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:  # Keras 2's learning-rate decay: Keras 3 warns and ignores it
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=3)
        kwargs.pop("loss_scale_factor", None)
        kwargs.pop("gradient_accumulation_steps", None)
        check_kwargs(type(self).__name__, kwargs, self._accepted())
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{type(self).__name__}: Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm),
                           ("weight_decay", weight_decay)):
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"{type(self).__name__}: {arg} must be a float >= 0. Received: {arg}={value!r}")
        if use_ema:
            if not isinstance(ema_momentum, (int, float)) or not 0 <= ema_momentum <= 1:
                raise ValueError(f"{type(self).__name__}: `ema_momentum` must be in the range [0, 1]. Received: "
                                 f"ema_momentum={ema_momentum!r}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError(f"{type(self).__name__}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self._learning_rate = self._check_lr(learning_rate)
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._variables = None
        self._averages = None
        self._weight_layouts = {}

    @classmethod
    def _accepted(cls):
        return sorted(init_parameter_names(cls) | {"lr"})

    def _check_lr(self, value):
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            return value
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a float >= 0 or a schedule. "
                             f"Received: learning_rate={value!r}")
        return float(value)

    @property
    def learning_rate(self):
        """The current learning rate (a float; a schedule is evaluated at the current step)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = self._check_lr(float(value) if isinstance(value, torch.Tensor) else value)

    lr = learning_rate

    # ---- state ---------------------------------------------------------------------------------------------

    def set_weight_layouts(self, layouts):
        """Tells the optimizer how each variable is laid out: {id(variable): kind}, a kind of
        `cnnkit.ops.layout.WEIGHT_LAYOUTS` ('dense', 'conv', ...). `fit` and `train_on_batch` call this when
        `needs_weight_layouts` is True, so such an optimizer can compute in Keras's layout."""
        self._weight_layouts = dict(layouts)

    def build(self, variables):
        """Creates the slot tensors for `variables` (called on the first update)."""
        self._variables = list(variables)
        self._averages = self._zeros(self._variables) if self.use_ema else None
        self.build_state(self._variables)

    def build_state(self, variables):
        """Subclasses create their per-variable slots here."""

    def _zeros(self, variables, fill=0.0):
        return [torch.full_like(v, fill, memory_format=torch.preserve_format) for v in variables]

    # ---- updates -------------------------------------------------------------------------------------------

    def _clip(self, grads):
        if self.clipvalue is not None:
            grads = [g.clamp(-self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            norms = torch._foreach_norm(grads)
            grads = [g * (self.clipnorm / n.clamp(min=self.clipnorm)) for g, n in zip(grads, norms)]
        if self.global_clipnorm is not None:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            grads = torch._foreach_mul(grads, self.global_clipnorm / total.clamp(min=self.global_clipnorm))
        return grads

    @torch.no_grad()
    def apply(self, grads, variables):
        """Updates `variables` (torch tensors, in place) from `grads` (same order; None entries are skipped)."""
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            return
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        if self._variables is None:
            self.build(variables)
        elif len(variables) != len(self._variables) or any(a is not b for a, b in zip(variables, self._variables)):
            raise ValueError(
                f"{type(self).__name__} was built for {len(self._variables)} variables and now receives a different "
                "set. Create a new optimizer (or recompile the model) after changing which weights are trainable."
            )
        grads = self._clip([g.to(v.dtype) for g, v in zip(grads, variables)])
        lr = self.learning_rate
        if self.weight_decay:
            torch._foreach_mul_(variables, 1.0 - self.weight_decay * lr)
        self.update(variables, grads, lr)
        if self.use_ema:
            self._update_averages(variables)
        self.iterations += 1

    def _update_averages(self, variables):
        """Keras's EMA: average = m * average + (1 - m) * variable after each step (m = 0 at the first step, so the
        average starts at the variable); every `ema_overwrite_frequency` steps the variables take the average."""
        momentum = self.ema_momentum if self.iterations else 0.0
        torch._foreach_mul_(self._averages, momentum)
        torch._foreach_add_(self._averages, variables, alpha=1.0 - momentum)
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            torch._foreach_copy_(variables, self._averages)

    @torch.no_grad()
    def finalize_variable_values(self, var_list):
        """With `use_ema=True`, sets `var_list` (the trainable weights the optimizer updates) to their moving
        averages; `fit` calls this after its last epoch, as Keras does. Does nothing otherwise."""
        if not self.use_ema or self._averages is None:
            return
        var_list = list(var_list)
        if len(var_list) != len(self._averages):
            raise ValueError(f"The length of model variables ({len(var_list)}) to override does not match the length "
                             f"of model variables stored in the optimizer ({len(self._averages)}). Please check if "
                             "the optimizer was called on your model.")
        torch._foreach_copy_(var_list, self._averages)

    def apply_gradients(self, grads_and_vars):
        """Keras's form: `optimizer.apply_gradients(zip(grads, variables))`."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def scale_loss(self, loss):
        """The loss the training step differentiates: `loss` itself (a `LossScaleOptimizer` multiplies it)."""
        return loss

    def step(self, variables):
        """Updates `variables` from their `.grad` (the torch way; used by `fit`)."""
        self.apply([v.grad for v in variables], variables)

    def update(self, variables, grads, lr):
        raise NotImplementedError

    # ---- config --------------------------------------------------------------------------------------------

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": schedules.serialize(lr) if isinstance(lr, schedules.LearningRateSchedule) else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm, "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def slots(self):
        """{slot name: [tensor per variable]} — the optimizer's own state (subclasses)."""
        return {}

    def state_slots(self):
        """{slot name: [tensor per variable]} — all the state saved in model files: the moving averages ('average',
        with `use_ema=True`; Keras creates them first), then `slots()`."""
        averages = {"average": self._averages} if self._averages is not None else {}
        return {**averages, **self.slots()}
