"""RMSprop, Adagrad and Adadelta with Keras's update rules (epsilon inside the square root, as Keras)."""

import torch

from cnnkit.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop: v = rho * v + (1 - rho) * g^2; w -= lr * g / sqrt(v + epsilon).

    Args:
        learning_rate: default 0.001.
        rho: default 0.9.
        momentum: default 0 (with momentum: m = momentum * m + lr * g / sqrt(...); w -= m).
        epsilon: default 1e-7.
        centered: normalise by the variance (v - mean(g)^2) instead of the second moment.

    Note:
        torch.optim.RMSprop uses rho=0.99 (alpha), eps=1e-8 and adds eps outside the square root.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        if not isinstance(rho, (int, float)) or not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be a float in [0, 1). Received: rho={rho!r}")
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"RMSprop: momentum must be a float in [0, 1]. Received: momentum={momentum!r}")
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered

    def build_state(self, variables):
        self.velocities = self._zeros(variables)
        self.momentums = self._zeros(variables) if self.momentum else None
        self.average_gradients = self._zeros(variables) if self.centered else None

    def update(self, variables, grads, lr):
        torch._foreach_mul_(self.velocities, self.rho)
        torch._foreach_addcmul_(self.velocities, grads, grads, value=1.0 - self.rho)
        if self.centered:
            torch._foreach_lerp_(self.average_gradients, grads, 1.0 - self.rho)
            denom = torch._foreach_addcmul(self.velocities, self.average_gradients, self.average_gradients,
                                           value=-1.0)
            torch._foreach_add_(denom, self.epsilon)
        else:
            denom = torch._foreach_add(self.velocities, self.epsilon)
        torch._foreach_sqrt_(denom)
        if self.momentums is None:
            torch._foreach_addcdiv_(variables, grads, denom, value=-lr)
        else:
            torch._foreach_mul_(self.momentums, self.momentum)
            torch._foreach_addcdiv_(self.momentums, grads, denom, value=lr)
            torch._foreach_sub_(variables, self.momentums)

    def slots(self):
        out = {"velocity": self.velocities}
        if self.momentums is not None:
            out["momentum"] = self.momentums
        if self.average_gradients is not None:
            out["average_gradient"] = self.average_gradients
        return out

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad: a += g^2; w -= lr * g / sqrt(a + epsilon); a starts at initial_accumulator_value (0.1)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="adagrad", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def build_state(self, variables):
        self.accumulators = self._zeros(variables, self.initial_accumulator_value)

    def update(self, variables, grads, lr):
        torch._foreach_addcmul_(self.accumulators, grads, grads)
        denom = torch._foreach_sqrt(torch._foreach_add(self.accumulators, self.epsilon))
        torch._foreach_addcdiv_(variables, grads, denom, value=-lr)

    def slots(self):
        return {"accumulator": self.accumulators}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta (Keras's rule, learning_rate default 0.001, rho 0.95, epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="adadelta", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def build_state(self, variables):
        self.accumulated_grads = self._zeros(variables)
        self.accumulated_delta_vars = self._zeros(variables)

    def update(self, variables, grads, lr):
        torch._foreach_mul_(self.accumulated_grads, self.rho)
        torch._foreach_addcmul_(self.accumulated_grads, grads, grads, value=1.0 - self.rho)
        numer = torch._foreach_sqrt(torch._foreach_add(self.accumulated_delta_vars, self.epsilon))
        denom = torch._foreach_sqrt(torch._foreach_add(self.accumulated_grads, self.epsilon))
        delta = torch._foreach_div(torch._foreach_mul(numer, grads), denom)
        torch._foreach_mul_(self.accumulated_delta_vars, self.rho)
        torch._foreach_addcmul_(self.accumulated_delta_vars, delta, delta, value=1.0 - self.rho)
        torch._foreach_add_(variables, delta, alpha=-lr)

    def slots(self):
        return {"accumulated_grad": self.accumulated_grads, "accumulated_delta_var": self.accumulated_delta_vars}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
