"""Global settings: the compute device, float type, epsilon, the (fixed) image data format; and the scopes of
deserialisation: whether files may run the Python code they hold (safe mode), and custom objects."""

import ctypes
import os
import sys
import threading

import torch

from cnnkit.saving import object_registration

_state = {"device": None, "floatx": "float32", "epsilon": 1e-7, "allocator_tuned": None, "unsafe": False,
          "frozen_cache_budget": None}
_safe_mode_scope = threading.local()  # the SafeModeScope of this thread (Keras's is per thread too)


def image_data_format():
    """Always 'channels_last': cnnkit's API takes and returns images as (batch, height, width, channels).

    Note:
        Internally tensors are kept in PyTorch's channels-first order with channels_last memory, so no
        copy is made at the API edge.
    """
    return "channels_last"


def floatx():
    return _state["floatx"]


def set_floatx(value):
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(
            "set_floatx: value must be one of 'float16', 'bfloat16', 'float32', 'float64'. "
            f"Received: value={value!r}"
        )
    _state["floatx"] = value


def epsilon():
    return _state["epsilon"]


def set_epsilon(value):
    _state["epsilon"] = float(value)


def get_device():
    """The torch device cnnkit computes on: the one set by `set_device`, else CUDA when available (under torchrun
    GPU LOCAL_RANK, one per process), else CPU."""
    if _state["device"] is None:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = os.environ.get("LOCAL_RANK", "")
        return torch.device("cuda", int(local)) if local.isdigit() else torch.device("cuda")
    return _state["device"]


def set_device(device):
    """Overrides the compute device ('cpu', 'cuda', 'cuda:1', a torch.device, or None for automatic)."""
    if device is None:
        _state["device"] = None
        return
    try:
        _state["device"] = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"set_device: expected 'cpu', 'cuda', 'cuda:N' or None. Received: device={device!r}"
        ) from err


def torch_dtype(name=None):
    """The torch dtype for a Keras dtype name (default: floatx())."""
    name = name or floatx()
    if isinstance(name, torch.dtype):
        return name
    table = {
        "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
        "float64": torch.float64, "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8,
        "bool": torch.bool,
    }
    if str(name) not in table:
        raise ValueError(f"Unknown dtype: {name!r}. Valid dtypes: {', '.join(table)}.")
    return table[str(name)]


def in_notebook():
    """True inside a running Jupyter (IPython) kernel (not merely when ipykernel has been imported)."""
    shell_module = sys.modules.get("IPython")
    get = getattr(shell_module, "get_ipython", None) if shell_module is not None else None
    shell = get() if get is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _available_memory():
    """Bytes of memory available now (Linux's MemAvailable; elsewhere, or unreadable, 4 GiB)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 2**30


def frozen_cache_budget():
    """Bytes `fit(cache_frozen='auto')` may use for cached features: the set budget, or a quarter of the memory
    available now."""
    budget = _state["frozen_cache_budget"]
    return budget if budget is not None else _available_memory() // 4


def set_frozen_cache_budget(num_bytes):
    """Sets the memory `fit(cache_frozen='auto')` may use for a frozen part's features (bytes; None: a quarter of
    the memory available when fit starts; 0 turns the automatic cache off).

    Example:
        >>> cnnkit.config.set_frozen_cache_budget(2 * 2**30)  # at most 2 GiB
    """
    if num_bytes is not None and (isinstance(num_bytes, bool) or not isinstance(num_bytes, int) or num_bytes < 0):
        raise ValueError(f"set_frozen_cache_budget: num_bytes must be an int >= 0 or None. Received: "
                         f"num_bytes={num_bytes!r}")
    _state["frozen_cache_budget"] = num_bytes


def reuse_large_allocations():
    """Lets glibc keep freed large blocks for reuse instead of unmapping them (Linux; once per process).

    Training and inference allocate the same large activation and gradient tensors every step. By default glibc
    serves blocks above 128 KB-32 MB with fresh `mmap` pages and returns them on free, so every step page-faults
    them in again: zero-filling a (64, 32, 26, 26) max-pool gradient took 1.8 ms of a 15 ms step. Raising the
    mmap and trim thresholds (what jemalloc/tcmalloc give PyTorch) made the seeds' MNIST convnet train about 25%
    faster. The cost: memory freed by torch stays with the process for reuse instead of going back to the OS.

    `fit`, `evaluate`, `predict` and the first call of a layer or model on data call this (on the CPU; it is decided
    once per process). Set the environment variable CNNKIT_REUSE_MEMORY=0 to keep glibc's defaults. Returns True
    when the setting is in effect.
    """
    if _state["allocator_tuned"] is not None:
        return _state["allocator_tuned"]
    ok = False
    if os.environ.get("CNNKIT_REUSE_MEMORY", "1") != "0" and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1 and libc.mallopt(m_trim_threshold, 1 << 30) == 1
        except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
            ok = False
    _state["allocator_tuned"] = ok
    return ok


def set_dtype_policy(policy):
    """Keras 3's `keras.config.set_dtype_policy`: see `cnnkit.mixed_precision.set_global_policy`."""
    from cnnkit import mixed_precision  # noqa: PLC0415 (mixed_precision imports this module)
    mixed_precision.set_global_policy(policy)


def dtype_policy():
    """Keras 3's `keras.config.dtype_policy`: the global `DTypePolicy`."""
    from cnnkit import mixed_precision  # noqa: PLC0415
    return mixed_precision.global_policy()


# ---- safe mode: may a file or config run the Python code it holds (a Lambda layer's marshalled bytecode)? ------


def enable_unsafe_deserialization():
    """Keras's `keras.config.enable_unsafe_deserialization`: lets every later load (`load_model`,
    `model_from_config`, `from_config`) rebuild Lambda layers from the Python bytecode stored in the file, which can
    run arbitrary code. Only for files you trust; for one load, pass `safe_mode=False` instead."""
    _state["unsafe"] = True


def in_safe_mode():
    """The safe mode in force: True or False inside a `SafeModeScope` (this thread), False after
    `enable_unsafe_deserialization()`, else None (not set: loading code treats it as safe)."""
    scoped = getattr(_safe_mode_scope, "value", None)
    if scoped is not None:
        return scoped
    return False if _state["unsafe"] else None


class SafeModeScope:
    """Context manager (Keras's `SafeModeScope`) that sets the safe mode for the deserialisation done inside it,
    in this thread: `with SafeModeScope(False): Model.from_config(config)` rebuilds Lambda layers from bytecode.

    Args:
        safe_mode: True (refuse code from configs and files) or False (run it); None leaves the ambient mode.
    """

    def __init__(self, safe_mode=True):
        if safe_mode not in (True, False, None):
            raise ValueError(f"SafeModeScope: safe_mode must be True, False or None. "
                             f"Received: safe_mode={safe_mode!r}")
        self.safe_mode = safe_mode

    def __enter__(self):
        self._previous = getattr(_safe_mode_scope, "value", None)
        if self.safe_mode is not None:
            _safe_mode_scope.value = self.safe_mode
        return self

    def __exit__(self, *exc):
        _safe_mode_scope.value = self._previous
        return False


# The custom objects of deserialisation live in the one registry, `cnnkit.saving.object_registration`.
custom_object_scope = object_registration.custom_object_scope
CustomObjectScope = object_registration.CustomObjectScope


def get_custom_object(name):
    """The object named `name` in the innermost `custom_object_scope` that has it, or None."""
    return object_registration.scoped_objects().get(name)
