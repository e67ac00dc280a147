"""How `fit`, `evaluate` and `predict` spread work over processes: one strategy object per call.

`for_environment()` picks it: `SingleProcess` normally, `DataParallel` when the script runs under `torchrun` with
several processes (`PerProcess` for `predict`, which is not distributed). The trainer asks the strategy to prepare the model and the data (`prepare_fit`, `shard`), for
the module a training forward goes through (`training_forward`), to weight the loss (`scale_loss`), to combine the
metrics (`reduce_metrics`) and which callbacks run here (`callbacks`: those with `chief_only = True` run on process
0 only). During `fit` the model's `_strategy` is the strategy in use (`train_step` reads it).

`DataParallel` (a script that calls `fit` runs unchanged under `torchrun --nproc_per_node=N`):

- wraps the model in torch's `DistributedDataParallel` for the training steps, so gradients are averaged across
  processes during `backward()` and every process applies the same update (the model starts from process 0's
  weights: DDP copies them to the others);
- gives each process its part of every batch: `batch_size` stays the GLOBAL batch (as with Keras's distribution
  strategies); all processes agree on the order (process 0 draws each shuffle and sends it), and process r takes
  its contiguous part of each global batch (sizes differ by at most one). cnnkit's image iterators decode only
  their own part. Each sample is seen once per epoch;
- weights each process's loss by its share of the global batch before `backward()` (part size * N / batch size),
  so the averaged gradient is exactly the gradient of the mean loss over the global batch, also for uneven parts
  and the last, smaller batch. A process whose part is empty (a last batch with fewer samples than processes)
  runs a step on one sample with weight 0 (every process must take part in the gradient exchange) and does not
  count it in its metrics;
- sums every metric's state (`metric.variables`) across processes when an epoch or an evaluation ends, so the logs
  are those of one process seeing the whole data, identical on every process (and callbacks such as EarlyStopping
  decide the same everywhere). Nothing is exchanged per step besides DDP's gradients;
- runs the callbacks that declare `chief_only = True` (the progress bar, ModelCheckpoint, CSVLogger, TensorBoard,
  a user's own) on process 0 only, and silences the others' messages; BackupAndRestore runs everywhere (every
  process reads a backup when resuming) and writes on process 0 only.

Note:
    BatchNormalization normalizes with each process's own batch statistics (as Keras's MirroredStrategy without
    synchronized batch norm); DDP copies process 0's moving statistics to the others at each step. Dropout and
    other random layers draw per process, so such models are not step-for-step equal to one process.

Example:
    >>> # train.py, run with: torchrun --nproc_per_node=2 train.py
    >>> model.fit(x, y, batch_size=64, epochs=5, callbacks=[cnnkit.callbacks.TensorBoard('logs')])
"""

import warnings

import torch
import torch.distributed as dist

from cnnkit import config
from cnnkit.data.iterators import Iterator, own_part
from cnnkit.training import data_adapter
from cnnkit.training import distributed

_module_call = torch.nn.Module.__call__
_WARNED = set()


def for_environment(collective=True):
    """`DataParallel` under torchrun with several processes (joining the process group on first use), else
    `SingleProcess`. With collective=False (`predict`, which each process runs on its own data, maybe on process 0
    alone): `PerProcess` under torchrun, which joins nothing."""
    if not collective:
        return PerProcess() if distributed.world_size() > 1 else SingleProcess()
    return DataParallel() if distributed.init() else SingleProcess()


class SingleProcess:
    """One process: the model, the data and the callbacks as given."""

    world_size, rank, is_chief = 1, 0, True

    def prepare_fit(self, model, train, val):
        """(train, val) adapters for `fit` (the model already on its device); sets up the training forward."""
        return train, val

    def shard(self, data, model):
        """For `evaluate`: this process's part of each batch of `data` (an adapter)."""
        return data

    def training_forward(self):
        """The module a training forward goes through instead of the model's own call (None: the model's)."""
        return None

    def scale_loss(self, loss):
        """The loss to differentiate."""
        return loss

    def reduce_metrics(self, model):
        """Combines the metric states of all processes, in place (when an epoch or an evaluation ends)."""

    def callbacks(self, callbacks, verbose):
        """(callbacks, verbose) that run in this process."""
        return callbacks, verbose

    def finish(self):
        """At the end of `fit`: forgets what `prepare_fit` set up."""


def _chief_filter(callbacks, verbose, is_chief):
    """On processes other than 0: no `chief_only` callback (progress bar, files) and no messages."""
    if is_chief:
        return callbacks, verbose
    kept = [cb for cb in callbacks if not getattr(cb, "chief_only", False)]
    for cb in kept:
        if isinstance(getattr(cb, "verbose", None), int) and not isinstance(cb.verbose, bool):
            cb.verbose = 0
    return kept, 0


class PerProcess(SingleProcess):
    """`predict` under torchrun: every process works on what it is given; `chief_only` callbacks (and the
    progress bar) run on process 0 only."""

    def __init__(self):
        self.world_size, self.rank = distributed.world_size(), distributed.rank()
        self.is_chief = self.rank == 0

    def callbacks(self, callbacks, verbose):
        return _chief_filter(callbacks, verbose, self.is_chief)


class _Forward(torch.nn.Module):
    """The model's internal forward (what the trainer calls), as a module DDP can wrap."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs, training=True):
        return _module_call(self.model, inputs, training=training)


class DataParallel(SingleProcess):
    """Data parallel training over the processes of torch.distributed's default group (see the module's notes)."""

    def __init__(self):
        self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
        self.is_chief = self.rank == 0
        self.ddp = None
        self.sum_reduction = False
        self.scale = 1.0      # the current training step's loss weight (set by the sharded data)
        self._pending = None  # metric states to put back after a step on no sample of this process's own

    def prepare_fit(self, model, train, val):
        params = [p for p in model.parameters() if p.requires_grad]
        if params:
            device = params[0].device
            # a kernel with one input channel is both contiguous and channels_last: autograd and DDP's buckets
            # pick different strides for its size-1 axis, and DDP warns; the copy it makes is of that small kernel
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                _Forward(model), device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=any(loss is None for loss in model._compiled_losses))
        reductions = {getattr(loss, "reduction", "sum_over_batch_size") for loss in model._compiled_losses if loss}
        if len(reductions) > 1 and "sum" in reductions:
            _warn_once("reduction", "Distributed training with losses of different reductions ('sum' and others): "
                                    "each process's loss is weighted as a mean over its part of the batch.")
        self.sum_reduction = reductions == {"sum"}
        return Sharded(train, model, self, training=True), (None if val is None else
                                                              Sharded(val, model, self, training=False))

    def shard(self, data, model):
        return Sharded(data, model, self, training=False)

    def training_forward(self):
        return self.ddp

    def scale_loss(self, loss):
        """Weighted by this process's share of the global batch, so DDP's average of the gradients is the gradient
        of the loss over the whole batch."""
        return loss if self.scale == 1.0 else loss * self.scale

    def reduce_metrics(self, model):
        """Sums every metric's state (`metric.variables`) across processes in one all_reduce, so `_logs()` gives
        the results over all processes' data, the same everywhere."""
        self.restore_pending()
        metrics = _metrics_with_state(model)
        if not metrics:
            return
        device = distributed.collective_device()
        states = [metric.variables for metric in metrics]
        flat = torch.cat([v.detach().to(device, torch.float64).reshape(-1) for state in states for v in state])
        dist.all_reduce(flat)
        home = config.get_device()
        offset = 0
        for metric, state in zip(metrics, states):
            summed = []
            for v in state:
                summed.append(flat[offset:offset + v.numel()].reshape(v.shape).to(home, v.dtype))
                offset += v.numel()
            metric.assign_variables(summed)

    def callbacks(self, callbacks, verbose):
        """On processes other than 0: no `chief_only` callback (progress bar, files) and no messages."""
        return _chief_filter(callbacks, verbose, self.is_chief)

    def finish(self):
        self.ddp, self._pending, self.scale = None, None, 1.0

    # ---- a step on no sample of this process's own ------------------------------------------------------------

    def hold_metrics(self, model):
        """Before a step on a borrowed sample: remember the metric states (put back by `restore_pending`)."""
        self._pending = (None if getattr(model, "_metrics", None) is None else
                         [(m, [v.clone() for v in m.variables]) for m in _metrics_with_state(model)], model)

    def restore_pending(self):
        if self._pending is None:
            return
        states, model = self._pending
        self._pending = None
        if states is None:  # the metrics were built by the sampleless step: they had no state before it
            model.reset_metrics()
            return
        for metric, values in states:
            metric.assign_variables(values)


def _metrics_with_state(model):
    if getattr(model, "_metrics", None) is None:
        return []
    found = [model._loss_tracker, *model._output_loss_trackers, *(m for _, m, _, _ in model._metrics)]
    for metric in found:
        if not metric.variables:
            _warn_once(("metric", metric.name), f"Metric {metric.name!r} ({type(metric).__name__}) declares no "
                       "state (`variables`): it cannot be summed across processes, so each process logs its own "
                       "value. Give it `variables` and `assign_variables` (as cnnkit.metrics.Mean) to have it "
                       "combined.")
    return [m for m in found if m.variables]


def _warn_once(key, message):
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, stacklevel=3)


# ---- the data ---------------------------------------------------------------------------------------------------

def _slice_batch(batch, part):
    x, y, sw = batch

    def cut(value):
        if value is None:
            return None
        return [v[part] for v in value] if isinstance(value, (list, tuple)) else value[part]
    return cut(x), cut(y), cut(sw)


def _batch_len(batch):
    x = batch[0]
    return len(x[0] if isinstance(x, (list, tuple)) else x)


class Sharded:
    """An adapter (ArrayData or IteratorData) read as this process's part of every global batch.

    Arrays: each process gathers only its samples of each batch. cnnkit's image iterators (`Iterator`) are told
    their part (`set_shard`, for the epoch's duration) and decode only it; their seed is process 0's. Other
    iterators, generators and DataLoaders are read whole by every process (they must give the same batches
    everywhere: seed them) and each process keeps its part. Training data sets the strategy's loss weight for
    each step.
    """

    def __init__(self, data, model, strategy, training):
        self.data, self.model, self.strategy, self.training = data, model, strategy, training
        self.rank, self.world = strategy.rank, strategy.world_size
        self.source = None  # a cnnkit Iterator that makes only this process's part
        if isinstance(data, data_adapter.IteratorData) and data.indexable and isinstance(data.data, Iterator):
            source = data.data
            seed = int(distributed.broadcast(torch.tensor([source._seed], dtype=torch.int64))[0])
            if seed != source._seed:
                with source.lock:
                    source._seed, source.index_array = seed, None
            self.source = source

    @property
    def steps(self):
        """Batches per epoch, None when the data's length is unknown (each epoch is then one whole pass)."""
        return self.data.steps

    def _global_batches(self):
        """(batch, samples in the global batch, whether the batch is already this process's part)."""
        data = self.data
        if isinstance(data, data_adapter.ArrayData):
            for index in data.batch_indices(distributed.agreed_permutation):
                size = len(index) if isinstance(index, torch.Tensor) else index.stop - index.start
                own, _ = own_part(size, self.world, self.rank)
                part = index[own] if isinstance(index, torch.Tensor) else slice(index.start + own.start,
                                                                                index.start + own.stop)
                yield data._take(part), size, True
            return
        if self.source is not None:
            source, count = self.source, len(self.source)
            for step, batch in enumerate(data.epoch(distributed.agreed_permutation)):
                idx = step % count
                yield batch, min(source.batch_size, source.n - idx * source.batch_size), True
            return
        for batch in data.epoch(distributed.agreed_permutation):
            yield batch, _batch_len(batch), False

    def epoch(self):
        if self.source is not None:
            self.source.set_shard(self.rank, self.world)  # only during the epoch: later uses see whole batches
        try:
            yield from self._parts()
        finally:
            if self.source is not None:
                self.source.set_shard(0, 1)

    def _parts(self):
        strategy = self.strategy
        for batch, size, is_part in self._global_batches():
            own, empty = own_part(size, self.world, self.rank)
            if not is_part:
                batch = _slice_batch(batch, own)
            if self.training:
                part = 0 if empty else _batch_len(batch)
                strategy.scale = float(self.world) if strategy.sum_reduction else part * self.world / max(size, 1)
                if empty:
                    strategy.scale = 0.0
            if empty:  # a step on one sample, not counted: put the metric states back afterwards
                strategy.hold_metrics(self.model)
            yield batch
            if empty:
                strategy.restore_pending()
        if self.training:
            strategy.scale = 1.0
