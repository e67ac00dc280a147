"""Lambda: a Python function of Keras-layout torch tensors as a layer, saved the way Keras 3 saves it.

A Python lambda is stored as its marshalled bytecode (base64), its defaults and its closure values; a named
function by its name. Rebuilding a lambda from a file runs code from that file, so it is refused unless the safe
mode is off (`load_model(..., safe_mode=False)`, `cnnkit.config.SafeModeScope(False)` or
`cnnkit.config.enable_unsafe_deserialization()`), as in Keras. Named functions are looked up in the
`custom_objects` given to `load_model` (`cnnkit.config.custom_object_scope`), then among cnnkit's activations.
"""

import binascii
import builtins
import codecs
import inspect
import json
import marshal
import sys
import types

import numpy as np
import torch

from cnnkit import activations
from cnnkit import config
from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import is_int

# What a rebuilt lambda sees as its module globals (Keras gives it those of its own python_utils module).
_LAMBDA_GLOBALS = {"__builtins__": builtins, "torch": torch, "np": np, "numpy": np}
# Sizes given to unknown axes to infer a Lambda's output shape: > 1, so that nothing broadcasts that would not with
# real data, and far enough apart that strided slices (x[:, ::2]) give different sizes.
_PROBE_SIZES = (2, 5)


def _is_shape(value):
    return isinstance(value, (list, tuple)) and all(
        d is None or (is_int(d) and d >= 0) for d in value)


def _normalize_output_shape(output_shape):
    """A shape (tuple of ints/None, batch excluded), a list of them (several outputs), a callable, or None."""
    if output_shape is None or callable(output_shape):
        return output_shape
    if _is_shape(output_shape):
        return tuple(output_shape)
    if isinstance(output_shape, (list, tuple)) and output_shape and all(_is_shape(s) for s in output_shape):
        return [tuple(s) for s in output_shape]
    raise ValueError("Lambda: output_shape must be a tuple of ints (without the batch axis), a list of such tuples, "
                     f"or a function of the input shape. Received: output_shape={output_shape!r}")


def _shape_list(shapes):
    """(list of shapes, was a list) for one Keras-layout shape or a list of them."""
    if isinstance(shapes, list) and shapes and isinstance(shapes[0], (list, tuple)):
        return [tuple(s) for s in shapes], True
    return [tuple(shapes)], False


def _takes_argument(fn, name):
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    return name in parameters


# ---- functions <-> configs (Keras 3's forms) -------------------------------------------------------------------


def _json_checked(value, owner, what):
    try:
        json.dumps(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{owner}: {what} must be JSON values (numbers, strings, lists, dicts) to be written to a "
                         f"config. ({err})") from None
    return value


def serialize_function(fn, owner):
    """A function as Keras 3 writes it in a Lambda config: a Python lambda as {'class_name': '__lambda__',
    'config': {'code', 'defaults', 'closure'}} (marshalled bytecode, base64), a named function by name."""
    if isinstance(fn, types.FunctionType) and fn.__name__ == "<lambda>":
        # A lambda rebuilt from a config keeps the text it came from: marshal's output depends on reference
        # counts, so dumping the same code object again can give other bytes.
        stored = fn.__dict__.get("_marshalled")
        code = stored[1] if stored and stored[0] is fn.__code__ else codecs.encode(
            marshal.dumps(fn.__code__), "base64").decode("ascii")
        defaults, closure = fn.__defaults__, fn.__closure__
        if defaults is not None:
            defaults = _json_checked(list(defaults), owner, "the lambda's default values")
        if closure:
            closure = _json_checked([cell.cell_contents for cell in closure], owner,
                                    "the values the lambda closes over")
        else:
            closure = None
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}
    name = getattr(fn, "__name__", None)
    if callable(fn) and isinstance(name, str):
        return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}
    raise ValueError(f"{owner}: cannot save {fn!r}: only Python lambdas and named functions can be written to a "
                     "config.")


def _refuse_in_safe_mode(owner, what):
    if config.in_safe_mode() is not False:
        raise ValueError(
            f"{owner}: Requested the deserialization of a `Lambda` layer whose `{what}` is a Python lambda. This "
            "carries a potential risk of arbitrary code execution and thus it is disallowed by default. If you "
            "trust the source of the artifact, you can override this error by passing `safe_mode=False` to the "
            "loading function, or calling `cnnkit.config.enable_unsafe_deserialization()`."
        )


def _load_lambda(inner, owner):
    """A function rebuilt from {'code', 'defaults', 'closure'} (Keras's func_dump)."""
    code = inner.get("code")
    try:
        try:
            raw = codecs.decode(code.encode("ascii"), "base64")
        except (UnicodeEncodeError, binascii.Error):
            raw = code.encode("raw_unicode_escape")
        code_object = marshal.loads(raw)
        if not isinstance(code_object, types.CodeType):
            raise TypeError(f"the stored object is a {type(code_object).__name__}, not code")
        defaults = None if inner.get("defaults") is None else tuple(inner["defaults"])
        closure = None if inner.get("closure") is None else tuple(types.CellType(v) for v in inner["closure"])
        fn = types.FunctionType(code_object, dict(_LAMBDA_GLOBALS), name=code_object.co_name, argdefs=defaults,
                                closure=closure)
    except (AttributeError, ValueError, TypeError, EOFError) as err:
        version = ".".join(map(str, sys.version_info[:2]))
        raise ValueError(f"{owner}: the stored Python lambda cannot be rebuilt by this Python ({version}); its "
                         f"bytecode is read only by the Python version that wrote it. ({type(err).__name__}: {err})"
                         ) from None
    fn._marshalled = (fn.__code__, code)
    return fn


def _find_function(name, owner, what):
    """A function named in a config: a custom object (see `cnnkit.config.custom_object_scope`) or an activation."""
    for candidate in dict.fromkeys((name, name.split(">")[-1])):  # Keras's registered names: 'package>name'
        try:
            return activations.ACTIVATIONS.lookup(candidate)
        except ValueError:
            continue
    raise ValueError(f"{owner}: cannot find the function {name!r} that its `{what}` names. Pass it to the "
                     f"loading function: custom_objects={{{name!r}: fn}}, with fn a function of Keras-layout "
                     "torch tensors.")


def deserialize_function(spec, owner, what="function", kind=None):
    """The inverse of `serialize_function`; also reads tf.keras 2's forms (`kind`: its function_type)."""
    if callable(spec):
        return spec
    if kind == "lambda" or isinstance(spec, (list, tuple)):  # tf.keras 2: [code, defaults, closure] or code
        code, defaults, closure = (list(spec) + [None, None])[:3] if isinstance(spec, (list, tuple)) else (
            spec, None, None)
        spec = {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}
    if isinstance(spec, dict) and spec.get("class_name") == "__lambda__":
        _refuse_in_safe_mode(owner, what)
        return _load_lambda(spec.get("config") or {}, owner)
    if isinstance(spec, dict) and spec.get("class_name") == "function" and isinstance(spec.get("config"), str):
        return _find_function(spec["config"], owner, what)
    if isinstance(spec, str):
        return _find_function(spec, owner, what)
    raise ValueError(f"{owner}: cannot read the `{what}` entry of the config: {spec!r}")


# ---- the layer -------------------------------------------------------------------------------------------------


@register
class Lambda(Layer):
    """Wraps a function as a layer: `Lambda(lambda x: x * 2.0 + 1.0)`.

    Args:
        function: called as `function(inputs, **arguments)` (plus `training=` when it takes that argument) on
            Keras-layout torch tensors; returns a torch tensor or a list of them.
        output_shape: the output shape without the batch axis (a tuple, or a list of tuples for several
            outputs), or a function of the full input shape returning the full output shape. Default: inferred
            by running `function` on zeros of the input shape (unknown sizes 2, then 5 to tell which output sizes
            follow them).
        mask: accepted for Keras compatibility; cnnkit has no masking, so only None is supported.
        arguments: dict of keyword arguments passed to `function` (JSON-safe values, to be saved).

    Input shape:
        Anything `function` takes (one tensor or a list).

    Output shape:
        What `function` returns (see `output_shape`).

    Note:
        The function receives and returns Keras-layout (channels_last) **torch** tensors, whatever cnnkit's
        channels-first internal layout: Keras code that calls `tf.` or `keras.ops` functions must be rewritten with
        torch or cnnkit ops (arithmetic, indexing and slicing work unchanged). Gradients flow through it. A saved
        Python lambda is marshalled bytecode, readable only by the same Python version, and loading it runs code
        from the file: `load_model` refuses it unless given `safe_mode=False`. Since the function is arbitrary
        code, the layer declares `runs_user_code` (`fit(cache_frozen=True)` never caches its output).

    Example:
        >>> Lambda(lambda x: x * 2.0 + 1.0)(np.zeros((2, 3)))
        tensor([[1., 1., 1.],
                [1., 1., 1.]])
    """

    call_layout = "internal"  # `call` itself gives the function Keras-layout tensors

    runs_user_code = True  # cnnkit cannot tell whether the function is random in training
    # tf.keras 2 Lambda config entries, read (and dropped) by from_config.
    config_only_options = ("module", "function_type", "output_shape_type", "output_shape_module")

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda: function must be callable. Received: function={function!r}")
        check_unsupported("Lambda", mask=mask)
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(f"Lambda: arguments must be a dict of keyword arguments. "
                             f"Received: arguments={arguments!r}")
        self.function = function
        self._output_shape = _normalize_output_shape(output_shape)
        self.arguments = dict(arguments or {})
        self._takes_training = _takes_argument(function, "training")
        self._takes_mask = _takes_argument(function, "mask")

    def _run(self, keras_inputs, training):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        if self._takes_mask:
            kwargs["mask"] = None
        out = self.function(keras_inputs, **kwargs)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        if not outputs or not all(isinstance(t, torch.Tensor) for t in outputs):
            raise TypeError(f"Layer '{self.name}' (Lambda): the function must return a torch tensor or a list of "
                            f"them. It returned: {type(out).__name__}")
        return out

    def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            keras_inputs = [layout.to_keras(t) for t in inputs]
        else:
            keras_inputs = layout.to_keras(inputs)
        out = self._run(keras_inputs, training)
        if isinstance(out, (list, tuple)):
            return [layout.to_internal(t) for t in out]
        return layout.to_internal(out)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return self._inferred_output_shape(input_shape)
        if callable(self._output_shape):
            shapes, was_list = _shape_list(self._output_shape(input_shape))
            return shapes if was_list else shapes[0]
        batch = _shape_list(input_shape)[0][0][0]
        if isinstance(self._output_shape, list):
            return [(batch, *s) for s in self._output_shape]
        return (batch, *self._output_shape)

    def _inferred_output_shape(self, input_shape):
        """Keras infers the shape symbolically; cnnkit runs the function on zeros, with each unknown size (batch
        included) 2 and then 5: output sizes that differ between the two runs are unknown (None)."""
        shapes, was_list = _shape_list(input_shape)
        dtype = config.torch_dtype(self.compute_dtype)
        fills = _PROBE_SIZES if any(d is None for s in shapes for d in s) else _PROBE_SIZES[:1]
        runs = []
        for fill in fills:
            zeros = [torch.zeros([fill if d is None else d for d in s], dtype=dtype) for s in shapes]
            try:
                with torch.no_grad():
                    out = self._run(zeros if was_list else zeros[0], False)
            except Exception as err:  # the user's function may raise anything
                raise NotImplementedError(
                    f"Layer '{self.name}' (Lambda): could not infer the output shape by running the function on "
                    f"zeros of shape {[tuple(z.shape) for z in zeros]} ({type(err).__name__}: {err}). The function "
                    "receives Keras-layout torch tensors (Keras code calling tf. or keras.ops functions must be "
                    "rewritten with torch or cnnkit ops); or pass output_shape= to the Lambda layer."
                ) from err
            runs.append([tuple(t.shape) for t in (out if isinstance(out, (list, tuple)) else [out])])
        result = [tuple(a if a == b else None for a, b in zip(*dims)) for dims in zip(*runs)] if len(runs) > 1 \
            else runs[0]
        return result if isinstance(out, (list, tuple)) else result[0]

    def get_config(self):
        cfg = super().get_config()
        owner = f"Layer '{self.name}' (Lambda)"
        cfg["function"] = serialize_function(self.function, owner)
        if callable(self._output_shape):
            cfg["output_shape"] = serialize_function(self._output_shape, owner)
        elif isinstance(self._output_shape, list):
            cfg["output_shape"] = [list(s) for s in self._output_shape]
        elif self._output_shape is not None:
            cfg["output_shape"] = list(self._output_shape)
        cfg["arguments"] = _json_checked(dict(self.arguments), owner, "arguments")
        return cfg

    @classmethod
    def from_config(cls, config):
        """Rebuilds the layer from Keras 3's config (or tf.keras 2's); a Python lambda in it is refused in safe
        mode (see `cnnkit.config.SafeModeScope`)."""
        config = dict(config)
        owner = f"Layer '{config.get('name', '?')}' (Lambda)"
        function_type = config.pop("function_type", None)
        shape_type = config.pop("output_shape_type", None)
        config.pop("module", None)
        config.pop("output_shape_module", None)
        config["function"] = deserialize_function(config.get("function"), owner, "function", function_type)
        shape = config.get("output_shape")
        if shape is not None and not _is_shape(shape) and shape_type != "raw":
            if isinstance(shape, list) and shape and all(_is_shape(s) for s in shape):
                config["output_shape"] = shape
            else:
                config["output_shape"] = deserialize_function(shape, owner, "output_shape", shape_type)
        return cls(**config)
