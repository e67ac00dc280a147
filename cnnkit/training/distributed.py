"""Which process am I, and the process group: what a script run under `torchrun` shares with its peers.

Under `torchrun --nproc_per_node=N script.py` (or any launcher that sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT) `init` joins the process group (NCCL with one GPU per process, GPU `LOCAL_RANK`; gloo
on CPUs); `fit` and `evaluate` call it and then train through `cnnkit.training.strategies.DataParallel`, which
describes what distributed training does. `cnnkit.distributed` re-exports `init`, `is_chief`, `rank` and
`world_size`.
"""

import atexit
import os

import torch
import torch.distributed as dist

from cnnkit import config


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


def collective_device():
    """The device collectives run on: this process's GPU with NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast(tensor):
    """Process 0's value of `tensor` (every process calls this with a tensor of the same shape and dtype)."""
    moved = tensor.to(collective_device(), copy=True).contiguous()
    dist.broadcast(moved, src=0)
    return moved.to(tensor.device)


def agreed_permutation(n):
    """A permutation of range(n) drawn by process 0 from its global torch generator (as one process draws it)."""
    order = torch.randperm(n) if dist.get_rank() == 0 else torch.empty(n, dtype=torch.int64)
    return broadcast(order)
