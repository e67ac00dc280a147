"""Layers to and from Keras's {'module', 'class_name', 'config'} form: `serialize`, and `deserialize`, which also
reads configs written by Keras 3 and tf.keras 2 (options cnnkit does not take are dropped when they hold Keras's
default, and refused by name otherwise).

Configs read from files are untrusted: `deserialize(spec, field)` records where in the file's config each layer
sits, and any error raised while a layer is rebuilt carries that place (`config_field(err)`), e.g.
'config.layers[3].config.filters', so that `load_model` can name the file and the field.
"""

import contextvars
import inspect

from cnnkit.layers.base import LAYERS
from cnnkit.saving import object_registration

_FIELD = contextvars.ContextVar("cnnkit_config_field", default="")


def serialize(layer):
    """{'module', 'class_name', 'config', 'registered_name'} for a layer, as Keras writes it: cnnkit's layers under
    Keras's names ('keras.layers' > 'Conv2D'), other classes (custom layers) under their Python module, class name
    and registered name ('Custom>MyLayer' after `@register_keras_serializable()`, else the class name)."""
    cls = type(layer)
    if cls.__module__.split(".")[0] != "cnnkit" or object_registration.is_registered(cls):
        module = None if cls.__module__ == "__main__" else cls.__module__
        return {"module": module, "class_name": cls.__name__, "config": layer.get_config(),
                "registered_name": object_registration.get_registered_name(cls)}
    return {"module": getattr(cls, "keras_module", "keras.layers"), "class_name": getattr(cls, "keras_class_name",
                                                                                         cls.__name__),
            "config": layer.get_config(), "registered_name": getattr(cls, "keras_registered_name", None)}


def layer_class(spec):
    """The class a layer config names: its registered name (or class name) in an open `custom_object_scope` or
    among the registered custom objects, else cnnkit's layer of that class name (ValueError with "did you mean")."""
    registered = spec.get("registered_name")
    if registered:
        found = object_registration.get_registered_object(registered)
        if found is not None:
            return found
    return LAYERS.lookup(spec["class_name"])


# Options that Keras 3 writes into layer configs and cnnkit layers do not take, with the values under which they
# change nothing (Keras's defaults), so that a config holding one of those values can be read.
_KERAS_NEUTRAL_OPTIONS = {
    "ragged": (False,),
    "autocast": (True,),
    "renorm": (False,),
    "lora_rank": (None, 0),
    "lora_enabled": (False,),
    "quantization_config": (None,),
}
# Options that only matter when another one is set; dropped, whatever their value, while it is not.
_KERAS_DEPENDENT_OPTIONS = {"renorm_momentum": "renorm", "renorm_clipping": "renorm", "lora_alpha": "lora_rank"}


def _keras_compatible_config(cls, config):
    """Drops the options of a Keras-written layer config that cnnkit's `cls` does not take and that hold Keras's
    default (or None, Keras's "not set"); any other option cnnkit does not take raises a ValueError naming the
    layer, the option and the value. Model configs (with 'layers') are left to the model's from_config."""
    config.pop("build_config", None)
    if "layers" in config or not hasattr(cls, "_accepted_kwargs"):
        return config
    for old, new in getattr(cls, "config_renames", {}).items():  # earlier Keras versions' names of options
        if old in config and config.get(new) is None:
            config[new] = config.pop(old)
    accepted = set(cls._accepted_kwargs()) | set(getattr(cls, "config_only_options", ()))
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
            continue
        if value is None or value in _KERAS_NEUTRAL_OPTIONS.get(key, ()):
            continue
        if key in _KERAS_DEPENDENT_OPTIONS and not config.get(_KERAS_DEPENDENT_OPTIONS[key]):
            continue
        name = config.get("name", "?")
        if key in _KERAS_NEUTRAL_OPTIONS:
            defaults = " or ".join(repr(v) for v in _KERAS_NEUTRAL_OPTIONS[key])
            raise ValueError(f"Layer '{name}' ({cls.__name__}): option {key}={value!r} is not supported by cnnkit "
                             f"(only Keras's default, {key}={defaults}, is).")
        raise ValueError(f"Layer '{name}' ({cls.__name__}): option {key}={value!r} is not supported by cnnkit "
                         f"(cnnkit's {cls.__name__} has no option '{key}').")
    return out


def config_field(err):
    """Where in a config the error `err` (raised by `deserialize`) arose, e.g. 'config.layers[3]'; '' if unknown."""
    return getattr(err, "cnnkit_config_field", "")


def config_place():
    """Where the config of the layer being rebuilt sits in the file's config ('config' for the root model's)."""
    parent = _FIELD.get()
    return f"{parent}.config" if parent else "config"


def describe(value):
    """A short repr of a config value for messages (long ones cut)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def require(mapping, key, types, what, field=None, optional=False):
    """`mapping[key]`, checked to be one of `types`; a ValueError naming the field otherwise.

    Args:
        mapping: a dict from a config (anything else is reported as such).
        key: the entry.
        types: a type or tuple of types the value must have (bool is never taken for int).
        what: the expected kind in words ('a list', 'a string').
        field: where `mapping` sits in the config ('' for the root; default: the current layer's place).
        optional: a missing entry (or None) gives None instead of an error.
    """
    field = _FIELD.get() if field is None else field
    prefix = f"{field}." if field else ""
    if not isinstance(mapping, dict):
        raise ValueError(f"{field or 'the config'} must be a dict. Received: {describe(mapping)}")
    value = mapping.get(key)
    if value is None and optional:
        return None
    if key not in mapping:
        raise ValueError(f"{prefix}{key} is missing.")
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                                                   else (types,))):
        raise ValueError(f"{prefix}{key} must be {what}. Received: {describe(value)}")
    return value


def _refine_field(err, field, config):
    """The field of an error a layer's constructor raised: the option its message names, when exactly one."""
    text = str(err)
    named = [key for key in config if f"{key}=" in text or f"'{key}'" in text] if isinstance(config, dict) else []
    return f"{field}.config.{named[0]}" if len(named) == 1 else field


def _check_option_types(cls, config):
    """Options whose constructor default is a bool must be bools ('use_bias': 'x' would silently be True)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    for key, value in config.items():
        param = params.get(key)
        if param is not None and isinstance(param.default, bool) and not isinstance(value, bool):
            raise ValueError(f"{cls.__name__}: {key} must be a bool. Received: {key}={describe(value)}")


def deserialize(spec, field=None):
    """A layer from {'class_name': ..., 'config': ...}; unknown class names get a "did you mean".

    Configs written by Keras 3 are accepted: options cnnkit does not take are dropped when they hold Keras's
    default, and rejected with a ValueError naming the layer, the option and the value otherwise.

    Args:
        spec: the {'class_name', 'config'} dict.
        field: where `spec` sits in a file's config, relative to the layer being rebuilt around it ('' for
            the root; 'config.layers[3]' for a model's fourth layer); errors then carry the full place (see
            `config_field`). None: not read from a file.
    """
    if field is None:
        return _deserialize(spec)
    parent = _FIELD.get()
    place = f"{parent}.{field}" if parent and field else (parent or field)
    token = _FIELD.set(place)
    try:
        return _deserialize(spec)
    except Exception as err:
        if not config_field(err):
            try:
                err.cnnkit_config_field = _refine_field(err, place, spec.get("config")
                                                        if isinstance(spec, dict) else None)
            except (AttributeError, TypeError):
                pass
        raise
    finally:
        _FIELD.reset(token)


def _deserialize(spec):
    require(spec, "class_name", str, "a string")
    require(spec, "config", dict, "a dict", optional=True)
    if str(spec.get("module", "")).startswith("keras.src.ops."):  # an op node of Keras 3's graph (x + 3.0, ops.mean)
        from cnnkit.layers.op_layers import operation_class  # noqa: PLC0415

        return operation_class(spec["class_name"]).from_config(dict(spec.get("config") or {}))
    cls = layer_class(spec)
    config = _keras_compatible_config(cls, dict(spec.get("config") or {}))
    _check_option_types(cls, config)
    if "layers" in config:
        return cls.from_config(config)
    try:
        return cls.from_config(config)
    except ValueError as err:
        name = config.get("name", "?")
        if f"'{name}'" in str(err):
            raise
        raise ValueError(f"Layer '{name}' ({spec['class_name']}): {err}") from None
