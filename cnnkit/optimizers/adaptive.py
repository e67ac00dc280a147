"""Adamax, Lamb, Lion, Ftrl and Adafactor with Keras 3's update rules, defaults and validation.

Each follows `keras/src/optimizers/<name>.py` line by line (per-variable slots, then the same arithmetic in the same
order), so 5-step trajectories agree with Keras to float32 rounding.
"""

import math

import numpy as np
import torch

from cnnkit.ops import layout
from cnnkit.optimizers.base import Optimizer


def _base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
          ema_overwrite_frequency, name, kwargs):
    return dict(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                ema_overwrite_frequency=ema_overwrite_frequency, name=name, **kwargs)


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm): m = b1 m + (1 - b1) g; u = max(b2 u, |g|);
    w -= lr m / ((1 - b1^t) (u + epsilon)).

    Args:
        learning_rate: default 0.001. beta_1, beta_2: default 0.9, 0.999. epsilon: default 1e-7.

    Example:
        >>> Adamax().get_config()["beta_2"]
        0.999
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 name="adamax", **kwargs):
        super().__init__(**_base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                                 ema_momentum, ema_overwrite_frequency, name, kwargs))
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build_state(self, variables):
        self.momentums = self._zeros(variables)
        self.norms = self._zeros(variables)

    def update(self, variables, grads, lr):
        t = self.iterations + 1
        torch._foreach_lerp_(self.momentums, grads, 1.0 - self.beta_1)
        for u, g in zip(self.norms, grads):
            torch.maximum(u * self.beta_2, g.abs(), out=u)
        denom = torch._foreach_mul(torch._foreach_add(self.norms, self.epsilon), 1.0 - self.beta_1 ** t)
        torch._foreach_addcdiv_(variables, torch._foreach_mul(self.momentums, lr), denom, value=-1.0)

    def slots(self):
        return {"momentum": self.momentums, "norm": self.norms}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lamb(Optimizer):
    """LAMB (layer-wise adaptive moments): Adam's bias-corrected step scaled per variable by
    ||w|| / ||step|| (1 when either norm is 0).

    Args:
        learning_rate: default 0.001. beta_1, beta_2: default 0.9, 0.999. epsilon: default 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 name="lamb", **kwargs):
        super().__init__(**_base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                                 ema_momentum, ema_overwrite_frequency, name, kwargs))
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build_state(self, variables):
        self.momentums = self._zeros(variables)
        self.velocities = self._zeros(variables)

    def update(self, variables, grads, lr):
        t = self.iterations + 1
        torch._foreach_lerp_(self.momentums, grads, 1.0 - self.beta_1)
        torch._foreach_lerp_(self.velocities, torch._foreach_mul(grads, grads), 1.0 - self.beta_2)
        for w, m, v in zip(variables, self.momentums, self.velocities):
            step = (m / (1.0 - self.beta_1 ** t)) / ((v / (1.0 - self.beta_2 ** t)).sqrt() + self.epsilon)
            w_norm, g_norm = w.square().sum().sqrt(), step.square().sum().sqrt()
            one = torch.ones_like(w_norm)
            ratio = torch.where(w_norm > 0, torch.where(g_norm > 0, w_norm / g_norm, one), one)
            w.sub_(ratio * lr * step)

    def slots(self):
        return {"momentum": self.momentums, "velocity": self.velocities}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (evolved sign momentum): w -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g.

    Args:
        learning_rate: default 0.001 (Lion wants a 3-10x smaller rate than Adam).
        beta_1: in (0, 1], default 0.9. beta_2: default 0.99.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 name="lion", **kwargs):
        super().__init__(**_base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                                 ema_momentum, ema_overwrite_frequency, name, kwargs))
        if not isinstance(beta_1, (int, float)) or beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Lion: Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                             f"degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def build_state(self, variables):
        self.momentums = self._zeros(variables)

    def update(self, variables, grads, lr):
        direction = torch._foreach_add(torch._foreach_mul(self.momentums, self.beta_1),
                                       torch._foreach_mul(grads, 1.0 - self.beta_1))
        torch._foreach_sign_(direction)
        torch._foreach_add_(variables, direction, alpha=-lr)
        torch._foreach_mul_(self.momentums, self.beta_2)
        torch._foreach_add_(self.momentums, grads, alpha=1.0 - self.beta_2)

    def slots(self):
        return {"momentum": self.momentums}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al.), Keras's form with L1, L2 and L2-shrinkage regularization.

    Args:
        learning_rate: default 0.001. learning_rate_power: <= 0, default -0.5.
        initial_accumulator_value: >= 0, default 0.1.
        l1_regularization_strength, l2_regularization_strength, l2_shrinkage_regularization_strength: >= 0,
            default 0.
        beta: default 0.0 (added to the L2 term as beta / (2 lr)).
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name="ftrl",
                 **kwargs):
        super().__init__(**_base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                                 ema_momentum, ema_overwrite_frequency, name, kwargs))
        checks = [("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
                  ("learning_rate_power", -learning_rate_power, "negative or zero"),
                  ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
                  ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
                  ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, "positive or zero")]
        for arg, value, rule in checks:
            if value < 0.0:
                shown = -value if arg == "learning_rate_power" else value
                raise ValueError(f"Ftrl: `{arg}` needs to be {rule}. Received: {arg}={shown}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def build_state(self, variables):
        self.accumulators = self._zeros(variables, float(self.initial_accumulator_value))
        self.linears = self._zeros(variables)

    def update(self, variables, grads, lr):
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        for w, g, accum, linear in zip(variables, grads, self.accumulators, self.linears):
            grad_to_use = g + 2 * self.l2_shrinkage_regularization_strength * w
            new_accum = accum + g.square()
            linear.add_(grad_to_use - (new_accum.pow(power) - accum.pow(power)) / lr * w)
            quadratic = new_accum.pow(power) / lr + 2 * l2
            w.copy_((linear.clamp(-l1, l1) - linear) / quadratic)
            accum.copy_(new_accum)

    def slots(self):
        return {"accumulator": self.accumulators, "linear": self.linears}

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength, "beta": self.beta}


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern): a factored second moment (row and column means of g^2 for weights of rank
    >= 2, over the last two axes), relative step sizes, update clipping.

    Args:
        learning_rate: default 0.001; with `relative_step` (default True) capped at 1 / sqrt(step).
        beta_2_decay: default -0.8 (beta_2 at step t is 1 - t^beta_2_decay).
        epsilon_1: default 1e-30, added to g^2. epsilon_2: default 1e-3, the floor of the weight's RMS.
        clip_threshold: default 1.0.

    Note:
        The factoring depends on the order of a weight's axes, and cnnkit keeps kernels in torch's layout
        ((out, in, *kernel) where Keras has (*kernel, in, out)). In `fit` / `train_on_batch` the model tells the
        optimizer each weight's layout (`set_weight_layouts`) and Adafactor factors in Keras's layout, so updates
        and the row / column slots in model files are Keras's; tensors it is not told about are factored as given.
    """

    needs_weight_layouts = True

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, name="adafactor", **kwargs):
        super().__init__(**_base(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema,
                                 ema_momentum, ema_overwrite_frequency, name, kwargs))
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def _keras_order(self, variable):
        """(flat indices giving the Keras-layout tensor from the flat torch one, their inverse), or None."""
        kind = self._weight_layouts.get(id(variable))
        if kind is None or variable.dim() < 2:
            return None
        to_keras = layout.WEIGHT_LAYOUTS[kind][1]
        order = torch.as_tensor(to_keras(np.arange(variable.numel()).reshape(tuple(variable.shape))),
                                device=variable.device)
        return order, torch.argsort(order.reshape(-1))

    def build_state(self, variables):
        self._orders = [self._keras_order(v) for v in variables]
        shapes = [tuple(v.shape) if o is None else tuple(o[0].shape) for v, o in zip(variables, self._orders)]
        self.rows = [variables[0].new_zeros(s[:-1] if len(s) >= 2 else ()) for s in shapes]
        self.columns = [variables[0].new_zeros((*s[:-2], s[-1]) if len(s) >= 2 else ()) for s in shapes]
        self.velocities = self._zeros(variables)

    def update(self, variables, grads, lr):
        t = float(self.iterations + 1)
        if not callable(self._learning_rate) and self.relative_step:
            lr = min(lr, 1.0 / math.sqrt(t))
        rho_t = min(lr, 1.0 / math.sqrt(t))
        beta_2_t = 1.0 - t ** self.beta_2_decay
        for w, g, r, c, v, order in zip(variables, grads, self.rows, self.columns, self.velocities, self._orders):
            alpha_t = torch.clamp(w.square().mean().sqrt(), min=self.epsilon_2) * rho_t
            if order is not None:  # work in Keras's layout
                g = g.reshape(-1)[order[0]]
            squared = g.square() + self.epsilon_1
            if g.dim() >= 2:
                r.copy_(beta_2_t * r + (1.0 - beta_2_t) * squared.mean(dim=-1))
                c.copy_(beta_2_t * c + (1.0 - beta_2_t) * squared.mean(dim=-2))
                velocity = (r / r.mean(dim=-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2)
            else:
                velocity = beta_2_t * v + (1.0 - beta_2_t) * squared
            u_t = g / velocity.sqrt()
            u_t_hat = u_t / torch.clamp(u_t.square().mean().sqrt() / self.clip_threshold, min=1.0)
            if order is not None:  # back to the variable's layout
                velocity = velocity.reshape(-1)[order[1]].reshape(w.shape)
                u_t_hat = u_t_hat.reshape(-1)[order[1]].reshape(w.shape)
            v.copy_(velocity)
            w.sub_(alpha_t * u_t_hat)

    def slots(self):
        return {"r": self.rows, "c": self.columns, "velocity": self.velocities}

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}
