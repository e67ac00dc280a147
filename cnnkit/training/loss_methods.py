"""`LossMethods`: the compiled loss of a batch (Keras's `compute_loss`) and its tracking, mixed into `Trainer`."""

import torch

from cnnkit.training import hints
from cnnkit.training import precision


class LossMethods:
    """The compiled losses weighted over the outputs plus the regularization losses, and the loss trackers. Uses the
    trainer's `_compiled_losses`, `_loss_weights` and metrics (`MetricLogs`)."""

    def _compiled_loss(self, ys, outputs, sample_weight):
        """(the total loss with its graph, each output's loss or None): the compiled losses of float32 `outputs`
        against `ys` weighted by the loss weights, plus the model's regularization losses."""
        if len(ys) != len(outputs):
            raise ValueError(f"The model has {len(outputs)} outputs but y has {len(ys)} label arrays.")
        total, values = None, []
        for loss_fn, weight, target, out in zip(self._compiled_losses, self._loss_weights, ys, outputs):
            value = None
            if loss_fn is not None:
                try:
                    value = loss_fn(target, out, sample_weight)
                except ValueError as err:
                    hint = hints.loss_hint(loss_fn, torch.as_tensor(target), out)
                    if not hint:
                        raise
                    raise ValueError(f"{err}{hint}") from None
                total = value * weight if total is None else total + value * weight
            values.append(value)
        regularization = self.losses
        if regularization:
            extra = torch.stack([r.to(torch.float32) for r in regularization]).sum()
            total = extra if total is None else total + extra.to(total.dtype)
        if total is None:  # Keras's words
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return total, values

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras's `compute_loss`, for a custom `train_step` / `test_step`: the compiled loss of `y_pred` (the
        model's output, a list for several) against `y`, weighted over the outputs, plus the model's regularization
        losses; a scalar tensor with its graph. `x` and `training` are accepted and unused, as in Keras."""
        del x, training
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        outs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        return self._compiled_loss(ys, precision.float32_outputs(outs), sample_weight)[0]

    def _loss_and_track(self, y, outputs, sample_weight):
        ys = y if isinstance(y, (list, tuple)) else [y]
        outputs = precision.float32_outputs(outputs)
        if self._metrics is None and len(ys) == len(outputs):
            self._build_metrics(ys, outputs)
        total, values = self._compiled_loss(ys, outputs, sample_weight)
        batch = outputs[0].shape[0]
        for tracker, value in zip(self._output_loss_trackers, values):
            if value is not None:
                tracker.update_state(value.detach(), sample_weight=batch)
        self._loss_tracker.update_state(total.detach(), sample_weight=batch)
        self.update_compiled_metrics(ys, outputs, sample_weight)
        return total
