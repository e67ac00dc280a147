"""SGD with Keras's momentum form: v = momentum * v - lr * g; w += v (Nesterov: w += momentum * v - lr * g)."""

import torch

from cnnkit.optimizers.base import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Args:
        learning_rate: default 0.01.
        momentum: float in [0, 1], default 0.
        nesterov: default False.

    Note:
        torch.optim.SGD keeps momentum as a sum of gradients and multiplies by the learning rate afterwards; Keras
        (and cnnkit) store the velocity with the learning rate already applied. They agree while the learning rate
        is constant and differ after it changes (schedules, ReduceLROnPlateau); cnnkit follows Keras.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, name, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a float in [0, 1]. Received: momentum={momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def build_state(self, variables):
        self.momentums = self._zeros(variables) if self.momentum else None

    def update(self, variables, grads, lr):
        if self.momentums is None:
            torch._foreach_add_(variables, grads, alpha=-lr)
            return
        torch._foreach_mul_(self.momentums, self.momentum)
        torch._foreach_add_(self.momentums, grads, alpha=-lr)
        if self.nesterov:
            torch._foreach_add_(variables, self.momentums, alpha=self.momentum)
            torch._foreach_add_(variables, grads, alpha=-lr)
        else:
            torch._foreach_add_(variables, self.momentums)

    def slots(self):
        return {"momentum": self.momentums} if self.momentums is not None else {}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
