"""Distributed data parallel training: a script that calls `fit` runs unchanged under `torchrun`.

Under `torchrun --nproc_per_node=N script.py` (or any launcher that sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT) `fit` and `evaluate` find the process group (initializing it on first use: NCCL with
one GPU per process, GPU `LOCAL_RANK`; gloo on CPUs), and:

- wrap the model in torch's `DistributedDataParallel` for the training steps, so gradients are averaged across
  processes during `backward()` and every process applies the same update (the model starts from process 0's
  weights: DDP copies them to the others);
- give each process its part of every batch: `batch_size` stays the GLOBAL batch (as with Keras's distribution
  strategies); all processes agree on the order (process 0 draws each shuffle and sends it), and process r takes
  its contiguous part of each global batch (sizes differ by at most one). cnnkit's image iterators decode only
  their own part. Each sample is seen once per epoch;
- weight each process's loss by its share of the global batch before `backward()` (part size * N / batch size),
  so the averaged gradient is exactly the gradient of the mean loss over the global batch, also for uneven parts
  and the last, smaller batch. A process whose part is empty (a last batch with fewer samples than processes)
  runs a step on one sample with weight 0 (every process must take part in the gradient exchange) and does not
  count it in its metrics;
- sum the metric states (total and count of every `Mean`-based metric) across processes when an epoch or an
  evaluation ends, so the logs are those of one process seeing the whole data, identical on every process (and
  callbacks such as EarlyStopping decide the same everywhere). Nothing is exchanged per step besides DDP's
  gradients;
- print and write files on process 0 only: the progress bar and callbacks' messages, ModelCheckpoint, CSVLogger,
  BackupAndRestore's saves (every process reads a backup when resuming).

Note:
    BatchNormalization normalizes with each process's own batch statistics (as Keras's MirroredStrategy without
    synchronized batch norm); DDP copies process 0's moving statistics to the others at each step. Dropout and
    other random layers draw per process, so such models are not step-for-step equal to one process.
"""

import atexit
import os
import warnings

import torch
import torch.distributed as dist

from cnnkit import config
from cnnkit.data.iterators import Iterator, own_part
from cnnkit.training import data_adapter
from cnnkit.training.callbacks.backup import BackupAndRestore
from cnnkit.training.callbacks.callback import Callback
from cnnkit.training.callbacks.monitor import CSVLogger, ModelCheckpoint
from cnnkit.training.callbacks.progbar import ProgbarLogger

_module_call = torch.nn.Module.__call__
_FIT = "_distributed_fit"          # model.__dict__ key: the DDP wrapper and the loss weight of the current step
_PENDING = "_distributed_pending"  # model.__dict__ key: metric states to put back after a step with no samples
_WARNED = set()


def _env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"The environment variable {name} must be an int (set by torchrun). Received: "
                         f"{name}={value!r}") from None


def is_initialized():
    """True when torch.distributed's default process group exists."""
    return dist.is_available() and dist.is_initialized()


def world_size():
    """The number of training processes (WORLD_SIZE; 1 outside torchrun)."""
    return dist.get_world_size() if is_initialized() else _env_int("WORLD_SIZE", 1)


def rank():
    """This process's rank (RANK; 0 outside torchrun)."""
    return dist.get_rank() if is_initialized() else _env_int("RANK", 0)


def is_chief():
    """True on the process that prints and writes files (rank 0; always True in a single process).

    Example:
        >>> if cnnkit.distributed.is_chief():
        ...     model.save('final.keras')
    """
    return rank() == 0


def init(backend=None):
    """Joins the process group that torchrun describes in the environment (once; `fit` calls it).

    Args:
        backend: 'nccl', 'gloo' or None: NCCL when cnnkit computes on CUDA, else gloo.

    Returns:
        True when this process is one of several.
    """
    if is_initialized():
        return dist.get_world_size() > 1
    if _env_int("WORLD_SIZE", 1) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed.")
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set: start the "
                         "script with torchrun (e.g. torchrun --nproc_per_node=2 script.py).")
    device = config.get_device()  # under torchrun: GPU LOCAL_RANK unless set_device says otherwise
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    if backend is None:
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend not in ("nccl", "gloo", "mpi"):
        raise ValueError(f"backend must be 'nccl', 'gloo', 'mpi' or None. Received: backend={backend!r}")
    dist.init_process_group(backend)
    atexit.register(_shutdown)
    return dist.get_world_size() > 1


def _shutdown():
    if is_initialized():
        dist.destroy_process_group()


def _collective_device():
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _broadcast(tensor):
    """Process 0's value of `tensor` (every process calls this with a tensor of the same shape and dtype)."""
    moved = tensor.to(_collective_device(), copy=True).contiguous()
    dist.broadcast(moved, src=0)
    return moved.to(tensor.device)


def _agreed_permutation(n):
    """A permutation of range(n) drawn by process 0 from its global torch generator (as one process draws it)."""
    order = torch.randperm(n) if dist.get_rank() == 0 else torch.empty(n, dtype=torch.int64)
    return _broadcast(order)


# ---- hooks called by the trainer -------------------------------------------------------------------------------

class _Forward(torch.nn.Module):
    """The model's internal forward (what the trainer calls), as a module DDP can wrap."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs, training=True):
        return _module_call(self.model, inputs, training=training)


class _FitState:
    def __init__(self, ddp, sum_reduction):
        self.ddp, self.sum_reduction, self.scale = ddp, sum_reduction, 1.0


def prepare_fit(model, train, val):
    """At the start of `fit` (model on its device): (train, val) adapters that give this process its part of each
    batch, and the DDP wrapper for the training steps. Unchanged data outside distributed training."""
    if not init():
        return train, val
    params = [p for p in model.parameters() if p.requires_grad]
    ddp = None
    if params:
        device = params[0].device
        # a kernel with one input channel is both contiguous and channels_last: autograd and DDP's buckets pick
        # different strides for its size-1 axis, and DDP warns; the copy it makes is of that one small kernel
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ddp = torch.nn.parallel.DistributedDataParallel(
            _Forward(model), device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=any(loss is None for loss in model._compiled_losses))
    reductions = {getattr(loss, "reduction", "sum_over_batch_size") for loss in model._compiled_losses if loss}
    if len(reductions) > 1 and "sum" in reductions:
        _warn_once("reduction", "Distributed training with losses of different reductions ('sum' and others): "
                                "each process's loss is weighted as a mean over its part of the batch.")
    model.__dict__[_FIT] = _FitState(ddp, reductions == {"sum"})
    return Sharded(train, model, training=True), (None if val is None else Sharded(val, model, training=False))


def end_fit(model):
    """At the end of `fit`: forgets the DDP wrapper."""
    model.__dict__.pop(_FIT, None)
    model.__dict__.pop(_PENDING, None)


def shard(data, model):
    """For `evaluate`: this process's part of each batch (unchanged outside distributed training)."""
    return Sharded(data, model, training=False) if init() else data


def wrapper(model):
    """The DistributedDataParallel module a training forward goes through (None outside distributed fit)."""
    state = model.__dict__.get(_FIT)
    return None if state is None else state.ddp


def scaled(model, loss):
    """The loss to differentiate: weighted by this process's share of the global batch in distributed fit, so
    DDP's average of the gradients is the gradient of the loss over the whole batch."""
    state = model.__dict__.get(_FIT)
    return loss if state is None or state.scale == 1.0 else loss * state.scale


def _means(model):
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


def _restore_pending(model):
    pending = model.__dict__.pop(_PENDING, None)
    if pending is None:
        return
    states = pending[0]
    if states is None:  # the metrics were built by the sampleless step: they had no state before it
        model.reset_metrics()
        return
    for metric, values in states:
        metric.assign_variables(values)


def sync_metrics(model):
    """Sums every metric's state (`metric.variables`) across processes, in place, so `_logs()` gives the results
    over all processes' data, the same everywhere (one all_reduce; called when an epoch or an evaluation ends)."""
    if not (is_initialized() and dist.get_world_size() > 1):
        return
    _restore_pending(model)
    means = _means(model)
    if not means:
        return
    device = _collective_device()
    states = [metric.variables for metric in means]
    flat = torch.cat([v.detach().to(device, torch.float64).reshape(-1) for state in states for v in state])
    dist.all_reduce(flat)
    home = config.get_device()
    offset = 0
    for metric, state in zip(means, states):
        summed = []
        for v in state:
            summed.append(flat[offset:offset + v.numel()].reshape(v.shape).to(home, v.dtype))
            offset += v.numel()
        metric.assign_variables(summed)


def local_callbacks(callbacks, verbose):
    """(callbacks, verbose) for this process: on processes other than 0 no progress bar, no messages and no files
    (ModelCheckpoint and CSVLogger left out; BackupAndRestore only restores)."""
    if is_chief():
        return callbacks, verbose
    kept = []
    for cb in callbacks:
        if isinstance(cb, (ProgbarLogger, ModelCheckpoint, CSVLogger)):
            continue
        if isinstance(cb, BackupAndRestore):
            cb = _RestoreOnly(cb)
        elif isinstance(getattr(cb, "verbose", None), int):
            cb.verbose = 0
        kept.append(cb)
    return kept, 0


class _RestoreOnly(Callback):
    """BackupAndRestore on a process other than 0: reads a backup when training starts, never writes one."""

    def __init__(self, backup):
        super().__init__()
        self.backup = backup

    def set_model(self, model):
        super().set_model(model)
        self.backup.set_model(model)

    def on_train_begin(self, logs=None):
        self.backup.on_train_begin(logs)


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
    everywhere: seed them) and each process keeps its part.
    """

    def __init__(self, data, model, training):
        self.data, self.model, self.training = data, model, training
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.source = None  # a cnnkit Iterator that makes only this process's part
        if isinstance(data, data_adapter.IteratorData) and data.indexable and isinstance(data.data, Iterator):
            source = data.data
            seed = int(_broadcast(torch.tensor([source._seed], dtype=torch.int64))[0])
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
            for index in data.batch_indices(_agreed_permutation):
                size = len(index) if isinstance(index, torch.Tensor) else index.stop - index.start
                own, _ = own_part(size, self.world, self.rank)
                part = index[own] if isinstance(index, torch.Tensor) else slice(index.start + own.start,
                                                                                index.start + own.stop)
                yield data._take(part), size, True
            return
        if self.source is not None:
            source, count = self.source, len(self.source)
            for step, batch in enumerate(data.epoch(_agreed_permutation)):
                idx = step % count
                yield batch, min(source.batch_size, source.n - idx * source.batch_size), True
            return
        for batch in data.epoch(_agreed_permutation):
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
        state = self.model.__dict__.get(_FIT) if self.training else None
        for batch, size, is_part in self._global_batches():
            own, empty = own_part(size, self.world, self.rank)
            if not is_part:
                batch = _slice_batch(batch, own)
            if state is not None:
                part = 0 if empty else _batch_len(batch)
                state.scale = float(self.world) if state.sum_reduction else part * self.world / max(size, 1)
                if empty:
                    state.scale = 0.0
            if empty:  # a step on one sample, not counted: put the metric states back afterwards
                means = _means(self.model)
                self.model.__dict__[_PENDING] = (
                    None if getattr(self.model, "_metrics", None) is None
                    else [(m, [v.clone() for v in m.variables]) for m in means],)
            yield batch
            if empty:
                _restore_pending(self.model)
        if state is not None:
            state.scale = 1.0
