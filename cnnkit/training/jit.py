"""`compile(jit_compile=...)`: the model's forward pass through `torch.compile`, with a fallback to eager.

The forward pass (train, evaluate and predict) is compiled; the loss, metrics and optimizer update stay eager
(they are a small part of the step and the optimizers already use torch's multi-tensor kernels). Autograd
differentiates the compiled graph (torch.compile's AOTAutograd compiles the backward pass too).
"""

import warnings

import torch

_module_call = torch.nn.Module.__call__

# Keyword arguments for torch.compile (default: the inductor backend). Tests use {'backend': 'aot_eager'}, which
# traces and differentiates the same graph without generating code.
OPTIONS = {}


def resolve(jit_compile):
    """True or False from `compile`'s argument. 'auto' is eager (False), as Keras 3 decides with its torch backend:
    compiling takes seconds to minutes, which only long runs win back."""
    if isinstance(jit_compile, str) and jit_compile == "auto":
        return False
    if not isinstance(jit_compile, bool):
        raise ValueError(f"compile: jit_compile must be True, False or 'auto'. Received: jit_compile={jit_compile!r}")
    return jit_compile


class CompiledForward:
    """Calls `torch.nn.Module.__call__(model, inputs, training=...)` through torch.compile.

    If torch.compile is unavailable or fails (at the first call, or with a compiler error later), it warns once,
    naming the reason, and runs eagerly from then on.
    """

    def __init__(self, model):
        self._eager = lambda inputs, training: _module_call(model, inputs, training=training)
        self._compiled = None
        self._succeeded = False
        self.failed = None  # the reason, once compilation has failed
        try:
            self._compiled = torch.compile(self._eager, **OPTIONS)
        except Exception as err:  # noqa: BLE001 (any reason: torch.compile unsupported here)
            self._fail(err)

    def _fail(self, err):
        self.failed = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        self._compiled = None
        warnings.warn(f"compile(jit_compile=True): torch.compile could not compile the model ({self.failed}); "
                      "running eagerly.", stacklevel=4)

    def __call__(self, model, inputs, training=False):
        if self._compiled is None:
            return self._eager(inputs, training)
        try:
            out = self._compiled(inputs, training)
        except Exception as err:
            if self._succeeded and not _is_compiler_error(err):
                raise  # an error of the model itself, not of the compiler
            self._fail(err)
            return self._eager(inputs, training)  # a real error in the model is raised again here
        self._succeeded = True
        return out


def _is_compiler_error(err):
    dynamo_exc = getattr(getattr(torch, "_dynamo", None), "exc", None)
    base = getattr(dynamo_exc, "TorchDynamoException", None)
    return base is not None and isinstance(err, base)
