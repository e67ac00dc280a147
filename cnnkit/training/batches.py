"""`BatchMethods`: Keras's single-batch API (train_on_batch, test_on_batch, predict_on_batch) on the trainer."""

import torch

from cnnkit.layers.node import flatten
from cnnkit.training import data_adapter


class BatchMethods:
    """One batch at a time, without callbacks or progress output. Mixed into `Trainer`."""

    def _single_batch(self, x, y, sample_weight):
        x, y = self._conform(x), self._labels(y)
        (batch,) = data_adapter.ArrayData(x, y, sample_weight, batch_size=10 ** 9, shuffle=False).epoch()
        return batch

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimisation step on one batch; returns that batch's loss (and metrics), as Keras."""
        self._require_compiled("train_on_batch")
        if class_weight is not None:
            sample_weight = self._class_weight_to_sample_weight(self._labels(y), class_weight, sample_weight)
        bx, by, bsw = self._single_batch(x, y, sample_weight)
        device = self._prepare_device()
        self._train_params = list(self.trainable_weights)
        self._share_weight_layouts()
        self.reset_metrics()
        self.train()
        run = self._step_runner("train")
        run(*self._to_device(bx, by, bsw, device))
        self.eval()
        return self._run_logs_out(run, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode."""
        self._require_compiled("test_on_batch")
        bx, by, bsw = self._single_batch(x, y, sample_weight)
        device = self._prepare_device()
        self.reset_metrics()
        was_training = self.training
        self.eval()
        run = self._step_runner("test")
        with torch.inference_mode():
            run(*self._to_device(bx, by, bsw, device))
        self.train(was_training)
        return self._run_logs_out(run, return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch (numpy), without callbacks or progress output."""
        items, _ = flatten(self._conform(x))
        return self.predict(x, batch_size=max(1, len(items[0])), verbose=0)
