"""TensorBoard: event files that TensorBoard reads, in Keras's layout, written with torch's `SummaryWriter`.

Needs the `tensorboard` package (`pip install tensorboard`, or `pip install cnnkit[tensorboard]`); view the logs
with `tensorboard --logdir logs`.
"""

import collections.abc
import json
import os
import time
import warnings

import numpy as np

from cnnkit.training.callbacks.callback import Callback


def _summary_modules():
    """torch's SummaryWriter and TensorBoard's summary builders; ImportError naming the package when missing."""
    try:
        from tensorboard.compat.proto import summary_pb2  # noqa: PLC0415
        from tensorboard.compat.proto import tensor_pb2  # noqa: PLC0415
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb  # noqa: PLC0415
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
    except ImportError as error:
        raise ImportError("The TensorBoard callback needs the `tensorboard` package: pip install tensorboard "
                          f"(or pip install cnnkit[tensorboard]). Import failed with: {error}") from None
    return SummaryWriter, summary_pb2, tensor_pb2, histogram_pb


def _check_profile_batch(profile_batch):
    """Keras's validation of profile_batch: 0, a non-negative int, 'start,stop' or a (start, stop) pair."""
    message = ("profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of positive "
               f"integers signifies a range of batches to profile. Found: {profile_batch}")
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(message) from None
        value = value[0] if len(value) == 1 else value
    if isinstance(value, int) and not isinstance(value, bool):
        start = stop = value
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        start, stop = value
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    return start, stop


def _weights_of(layer, prefix, seen):
    """(tag path, Keras-layout numpy value) of each weight of `layer` and its sublayers (Keras's `weight.path`)."""
    from cnnkit.layers.base import Layer  # noqa: PLC0415
    path = f"{prefix}{layer.name}"
    for spec in getattr(layer, "_weight_specs", ()):
        tensor = getattr(layer, spec.attr)
        if id(tensor) not in seen:
            seen.add(id(tensor))
            yield f"{path}/{spec.attr}", layer._weight_value(spec).astype(np.float32)
    for child in layer.children():
        if isinstance(child, Layer):
            yield from _weights_of(child, path + "/", seen)


def _weight_image(value):
    """Keras's picture of a weight (NHWC float array), or None when it has no 2-D picture (as Keras)."""
    image = np.squeeze(value)
    if image.ndim == 1:  # a bias
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:  # a Dense kernel
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, image.shape[0], image.shape[1], 1)
    elif image.ndim == 3:  # a conv kernel with one input or output channel: one picture per kernel
        image = np.transpose(image, (2, 0, 1))[..., None]
    if image.ndim == 4 and image.shape[-1] in (1, 3, 4):
        return image
    return None


class TensorBoard(Callback):
    """Writes logs for TensorBoard, as Keras's callback: `<log_dir>/train` and `<log_dir>/validation` runs.

    Train run: `epoch_loss`, `epoch_<metric>` and `epoch_learning_rate` at each epoch (step = epoch index);
    with `update_freq=N`, `batch_loss` and `batch_<metric>` every N training batches (step = batch count since
    `fit` started); with `histogram_freq=N`, a histogram of every weight (`<layer path>/<weight>/histogram`, 30
    buckets as TensorBoard's) every N epochs, and with `write_images` a picture of it; with `write_graph` the model's
    configuration (tag 'keras': TensorBoard's Graphs tab draws the layers). Validation run: `epoch_<name>` for each
    'val_' log, and `evaluation_<name>_vs_iterations` after each evaluation (step = optimizer iterations).
    Under `torchrun` only process 0 writes (`chief_only`).

    Args:
        log_dir: folder of the runs (created when the first value is written).
        histogram_freq: every how many epochs to write weight histograms (0: never).
        write_graph: write the model's configuration for TensorBoard's graph view (step 0).
        write_images: also write each weight as an image when histograms are written.
        write_steps_per_second: also log `epoch_steps_per_second` (and `batch_steps_per_second`).
        update_freq: 'epoch' (default), 'batch' (every batch) or an int N (every N batches).
        profile_batch, embeddings_freq, embeddings_metadata: accepted for Keras code; cnnkit does not profile or
            write embeddings (a warning says so when they are set).

    Example:
        >>> tb = cnnkit.callbacks.TensorBoard(log_dir='logs', histogram_freq=1)
        >>> model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[tb])   # then: tensorboard --logdir logs
    """

    chief_only = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._modules = _summary_modules()
        self.log_dir = os.fspath(log_dir)
        for name, value in (("histogram_freq", histogram_freq), ("embeddings_freq", embeddings_freq)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TensorBoard: {name} must be a non-negative int. Received: {name}={value!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (not isinstance(update_freq, int) or isinstance(update_freq, bool)
                                       or update_freq < 1):
            raise ValueError("TensorBoard: update_freq must be 'epoch', 'batch' or a positive int. Received: "
                             f"update_freq={update_freq!r}")
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second, self.update_freq = write_steps_per_second, update_freq
        self.embeddings_freq, self.embeddings_metadata = embeddings_freq, embeddings_metadata
        self.profile_batch = profile_batch
        unsupported = [f"{name}={value!r}" for name, value, default in (
            ("profile_batch", profile_batch, _check_profile_batch(profile_batch) == (0, 0)),
            ("embeddings_freq", embeddings_freq, embeddings_freq == 0),
            ("embeddings_metadata", embeddings_metadata, embeddings_metadata is None)) if not default]
        if unsupported:
            warnings.warn(f"TensorBoard: cnnkit does not profile batches or write embeddings; ignoring "
                          f"{', '.join(unsupported)}.", stacklevel=2)
        self._writers = {}
        self._global_train_batch = 0
        self._batch_start_time = self._epoch_start_time = 0.0
        self._epoch_start_iterations = 0

    # ---- writers --------------------------------------------------------------------------------------------

    def _writer(self, run):
        """The SummaryWriter of 'train' or 'validation', made on first use (no empty runs, as Keras)."""
        if run not in self._writers:
            summary_writer = self._modules[0]
            self._writers[run] = summary_writer(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _scalar(self, run, tag, value, step):
        self._writer(run).add_scalar(tag, float(value), global_step=int(step), new_style=True)

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _write_model_config(self):
        """The model's configuration as the 'keras' tensor of the graph_keras_model plugin (Keras's summary)."""
        from cnnkit.models.saving import keras_model_config  # noqa: PLC0415 (callbacks sit below models)
        try:
            text = json.dumps(keras_model_config(self.model))
        except Exception as error:  # noqa: BLE001 (as Keras: a model without a config is not an error)
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {error}", stacklevel=2)
            return
        _, summary_pb2, tensor_pb2, _ = self._modules
        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "graph_keras_model"
        metadata.plugin_data.content = b"1"
        tensor = tensor_pb2.TensorProto(dtype=7, string_val=[text.encode("utf8")])  # 7: DT_STRING
        summary = summary_pb2.Summary()
        summary.value.add(tag="keras", metadata=metadata, tensor=tensor)
        self._writer("train").file_writer.add_summary(summary, 0)

    # ---- hooks ----------------------------------------------------------------------------------------------

    def set_model(self, model):
        super().set_model(model)
        self._close_writers()
        if self.write_graph and type(model).__name__ in ("Sequential", "Functional"):
            self._write_model_config()

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start_iterations = self._optimizer_iterations()
            self._epoch_start_time = time.time()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq == "epoch" or step % self.update_freq:
            return
        if self.write_steps_per_second:
            self._scalar("train", "batch_steps_per_second", 1.0 / max(time.time() - self._batch_start_time, 1e-9),
                         step)
        if isinstance(logs, collections.abc.Mapping):
            for name, value in logs.items():
                self._scalar("train", f"batch_{name}", value, step)

    def on_test_end(self, logs=None):
        iterations = self._optimizer_iterations()
        if iterations is not None:
            for name, value in (logs or {}).items():
                self._scalar("validation", f"evaluation_{name}_vs_iterations", value, iterations)
            self._writer("validation").flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if logs:
            train_logs.update(self._learning_rates())
            if self.write_steps_per_second:
                seconds = max(time.time() - self._epoch_start_time, 1e-9)
                train_logs["steps_per_second"] = (self._optimizer_iterations() - self._epoch_start_iterations) / \
                    seconds
        for run, values in (("train", train_logs), ("validation", val_logs)):
            for name, value in values.items():
                self._scalar(run, f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    # ---- values ---------------------------------------------------------------------------------------------

    def _optimizer(self):
        optimizer = getattr(self.model, "optimizer", None)
        return getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's own

    def _optimizer_iterations(self):
        optimizer = self._optimizer()
        return None if optimizer is None else int(optimizer.iterations)

    def _learning_rates(self):
        optimizer = self._optimizer()
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            return {}
        return {"learning_rate": float(optimizer.learning_rate)}

    def _log_weights(self, epoch):
        """A histogram (and with write_images a picture) of every weight, tagged as Keras's `weight.path`."""
        histogram_pb = self._modules[3]
        writer = self._writer("train")
        prefix = f"{self.model.name}/" if type(self.model).__name__ == "Sequential" else ""
        seen = set()
        for layer in self.model.layers:
            for path, value in _weights_of(layer, prefix, seen):
                writer.file_writer.add_summary(histogram_pb(f"{path}/histogram", value), epoch)
                if self.write_images:
                    image = _weight_image(value)
                    if image is not None:
                        writer.add_images(f"{path}/image", image, epoch, dataformats="NHWC")
