"""Adam, AdamW and Nadam with Keras's update rules.

Keras's Adam adds epsilon to sqrt(v) before bias correction ("epsilon hat"):
    w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)
torch.optim.Adam adds it after. The two agree exactly when torch's eps is epsilon / sqrt(1 - b2^t), so Adam and
AdamW set that before each step and let torch do the update: its fused kernel (one pass over each weight, about
3x faster than the multi-tensor ops on a small convnet's CPU step) where the weights are float tensors on the CPU or
a CUDA device, its multi-tensor kernel elsewhere.
"""

import math

import torch
from torch.optim.adam import adam as torch_adam

from cnnkit.optimizers.base import Optimizer


def _check_betas(owner, beta_1, beta_2, epsilon):
    for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{owner}: {name} must be a float in [0, 1). Received: {name}={value!r}")
    if not isinstance(epsilon, (int, float)) or epsilon < 0:
        raise ValueError(f"{owner}: epsilon must be a float >= 0. Received: epsilon={epsilon!r}")


def _fusable(variables):
    """Whether torch's fused Adam kernel takes these weights: float tensors, all on the CPU or all on CUDA devices
    (it groups them by device and dtype itself)."""
    devices = {v.device.type for v in variables}
    return devices in ({"cpu"}, {"cuda"}) and all(v.is_floating_point() for v in variables)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras's defaults.

    Args:
        learning_rate: default 0.001 (`lr=` also accepted).
        beta_1, beta_2: default 0.9 and 0.999.
        epsilon: default 1e-7 (torch's default is 1e-8, placed differently; see the module docstring).
        amsgrad: default False.

    Example:
        >>> Adam(lr=0.01).learning_rate
        0.01
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        _check_betas(type(self).__name__, beta_1, beta_2, epsilon)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad

    def build_state(self, variables):
        self.momentums = self._zeros(variables)
        self.velocities = self._zeros(variables)
        self.velocity_hats = self._zeros(variables) if self.amsgrad else []
        self._steps = [torch.tensor(float(self.iterations)) for _ in variables]  # torch increments these

    def update(self, variables, grads, lr):
        step = self.iterations + 1
        eps = self.epsilon / math.sqrt(1.0 - self.beta_2 ** step)
        fused = _fusable(variables)
        torch_adam(
            variables, grads, self.momentums, self.velocities, self.velocity_hats, self._steps,
            foreach=None if fused else True, fused=fused or None, amsgrad=self.amsgrad, beta1=self.beta_1,
            beta2=self.beta_2, lr=lr, weight_decay=0.0, eps=eps, maximize=False,
        )

    def slots(self):
        out = {"momentum": self.momentums, "velocity": self.velocities}
        if self.amsgrad:
            out["velocity_hat"] = self.velocity_hats
        return out

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras): `w -= w * weight_decay * lr` each step."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency, name, **kwargs)


class Nadam(Optimizer):
    """Adam with Nesterov momentum, Keras's schedule: u_t = beta_1 * (1 - 0.5 * 0.96 ** t).

    Note:
        torch.optim.NAdam uses 0.96 ** (0.004 t) (its momentum_decay) and so gives different updates.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        _check_betas("Nadam", beta_1, beta_2, epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.u_product = 1.0

    def build_state(self, variables):
        self.momentums = self._zeros(variables)
        self.velocities = self._zeros(variables)

    def update(self, variables, grads, lr):
        t = self.iterations + 1
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t_1 = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product_t = self.u_product * u_t
        u_product_t_1 = u_product_t * u_t_1
        self.u_product = u_product_t
        torch._foreach_lerp_(self.momentums, grads, 1.0 - self.beta_1)
        torch._foreach_lerp_(self.velocities, torch._foreach_mul(grads, grads), 1.0 - self.beta_2)
        m_hat = torch._foreach_mul(self.momentums, u_t_1 / (1.0 - u_product_t_1))
        torch._foreach_add_(m_hat, grads, alpha=(1.0 - u_t) / (1.0 - u_product_t))
        denom = torch._foreach_sqrt(torch._foreach_div(self.velocities, 1.0 - self.beta_2 ** t))
        torch._foreach_add_(denom, self.epsilon)
        torch._foreach_addcdiv_(variables, m_hat, denom, value=-lr)

    def slots(self):
        return {"momentum": self.momentums, "velocity": self.velocities}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
