"""Which training precisions this machine runs fast, found without importing torch (for `cnnkit train --help`).

The CPU's abilities come from the `flags` line of /proc/cpuinfo (Linux): bfloat16 matrix units are `avx512_bf16`
(AVX-512 BF16, e.g. AMD Zen 4, Intel Cooper Lake) or `amx_bf16` (Intel AMX, Sapphire Rapids and newer); float16
ones are `avx512_fp16` or `amx_fp16`. Without them torch still runs the mixed policies on the CPU (oneDNN converts
to float32 inside each kernel, or uses its reference kernels), so they give the same kind of results but are
emulated and usually slower than float32. An NVIDIA GPU is seen from /proc/driver/nvidia (its driver); whether it
has bfloat16 (compute capability 8.0, Ampere, or newer) is only known once torch is loaded, so it is checked then.

Example:
    >>> from cnnkit.precision_support import PRECISIONS, supported_precisions
    >>> PRECISIONS
    ('float32', 'mixed_bfloat16', 'mixed_float16')
    >>> supported_precisions(flags={'avx512_bf16'}, cuda=False)['mixed_bfloat16']
    'fast on this CPU (avx512_bf16)'
"""

import os
import sys

#: The values of `cnnkit train --precision`: Keras's global dtype policy names.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_FP16_FLAGS = ("amx_fp16", "avx512_fp16")


def cpu_flags(path="/proc/cpuinfo"):
    """The set of CPU feature flags of the first processor in `path`; empty when it cannot be read (not Linux)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86: flags; ARM: Features
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_cuda_driver():
    """True when an NVIDIA driver is loaded (so CUDA may be available), without importing torch."""
    torch = sys.modules.get("torch")
    if torch is not None:  # already imported: ask it
        return bool(torch.cuda.is_available())
    return os.path.exists("/proc/driver/nvidia/version")


def supported_precisions(flags=None, cuda=None):
    """{precision: how this machine runs it} for each of `PRECISIONS`.

    Args:
        flags: the CPU's feature flags (default: read from /proc/cpuinfo).
        cuda: whether a CUDA device is there (default: `has_cuda_driver()`).

    Returns:
        A dict of short descriptions: 'fast on this CPU (avx512_bf16)', 'emulated on this CPU: runs, usually
        slower than float32', 'on the GPU', ...
    """
    flags = cpu_flags() if flags is None else set(flags)
    cuda = has_cuda_driver() if cuda is None else cuda
    result = {"float32": "full precision (the default)"}
    for name, wanted, gpu in (("mixed_bfloat16", _BF16_FLAGS, "on GPUs of compute capability 8.0 (Ampere) or newer"),
                              ("mixed_float16", _FP16_FLAGS, "on the GPU (with loss scaling)")):
        units = [flag for flag in wanted if flag in flags]
        text = f"fast on this CPU ({', '.join(units)})" if units else \
            f"emulated on this CPU (no {' or '.join(wanted)}): runs, usually slower than float32"
        result[name] = f"{gpu}; {text}" if cuda else text
    return result


def precision_help():
    """The help text of `cnnkit train --precision`: the choices and how this machine runs each."""
    support = supported_precisions()
    return ("global dtype policy of the run: layers compute in this precision, weights stay float32 "
            "(default float32). On this machine: " + "; ".join(f"{k}: {v}" for k, v in support.items()))
