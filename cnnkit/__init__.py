"""cnnkit: Keras-compatible convolutional neural networks on a PyTorch engine.

Change `from tensorflow.keras import ...` to `from cnnkit import ...` and the same code runs.

The sub-packages load on first use (`cnnkit.layers`, `from cnnkit import models`, ...), so `import cnnkit` and the
command line's `--help` / `--version` start without loading torch.
"""

import difflib
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("activations", "applications", "backend", "callbacks", "config", "data", "datasets", "distributed",
               "initializers", "layers", "losses", "metrics", "mixed_precision", "models", "ops", "optimizers",
               "preprocessing", "regularizers", "saving", "utils", "visualization")
_ATTRIBUTES = {"Input": "cnnkit.layers", "Model": "cnnkit.models", "Sequential": "cnnkit.models"}

__all__ = ["Input", "Model", "Sequential", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"cnnkit.{name}")
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    close = difflib.get_close_matches(name, __all__, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}.{hint}")


def __dir__():
    return sorted({*globals(), *__all__})
