"""`SwapEMAWeights`: evaluate (and optionally checkpoint) with the optimizer's moving averages of the weights."""

import torch

from cnnkit.training.callbacks.callback import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's exponential moving averages (`use_ema=True`) around
    evaluation and prediction, and after each epoch with `swap_on_epoch=True` (Keras 3's rules).

    Args:
        swap_on_epoch: also swap the averages in at the end of each epoch (so callbacks after this one, e.g.
            `ModelCheckpoint`, see them) and back at the start of the next; after the last epoch the averages stay
            in the model. Default False.

    Raises:
        ValueError: when the model's optimizer does not use `use_ema=True` (raised at the first swap, as Keras).

    Example:
        >>> from cnnkit.callbacks import SwapEMAWeights
        >>> SwapEMAWeights(swap_on_epoch=True).swap_on_epoch
        True

    Note:
        As in Keras 3.15, `on_predict_end` does not swap the averages back out (its condition is inverted there):
        after `predict(..., callbacks=[SwapEMAWeights()])` the model keeps the averaged weights.
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                             f"Received: use_ema={getattr(optimizer, 'use_ema', False)}")
        return optimizer

    @torch.no_grad()
    def _swap_variables(self):
        optimizer = self._optimizer()
        if optimizer._averages is None:  # not built yet: nothing to swap (Keras would fail on the missing slots)
            return
        for variable, average in zip(optimizer._variables, optimizer._averages):
            saved = variable.clone()
            variable.copy_(average)
            average.copy_(saved)

    @torch.no_grad()
    def _finalize_ema_values(self):
        optimizer = self._optimizer()
        if optimizer._averages is not None:
            torch._foreach_copy_(optimizer._averages, optimizer._variables)

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        if not self._ema_weights_in_model:  # Keras 3.15's condition, kept: see the class note
            self._swap_variables()
            self._ema_weights_in_model = False
