"""Layers to and from Keras's {'module', 'class_name', 'config'} form: `serialize`, and `deserialize`, which also
reads configs written by Keras 3 and tf.keras 2 (options cnnkit does not take are dropped when they hold Keras's
default, and refused by name otherwise)."""

from cnnkit.layers.base import LAYERS
from cnnkit.saving import object_registration


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


def deserialize(spec):
    """A layer from {'class_name': ..., 'config': ...}; unknown class names get a "did you mean".

    Configs written by Keras 3 are accepted: options cnnkit does not take are dropped when they hold Keras's
    default, and rejected with a ValueError naming the layer, the option and the value otherwise.
    """
    if str(spec.get("module", "")).startswith("keras.src.ops."):  # an op node of Keras 3's graph (x + 3.0, ops.mean)
        from cnnkit.layers.op_layers import operation_class  # noqa: PLC0415

        return operation_class(spec["class_name"]).from_config(dict(spec.get("config") or {}))
    cls = layer_class(spec)
    config = _keras_compatible_config(cls, dict(spec.get("config") or {}))
    if "layers" in config:
        return cls.from_config(config)
    try:
        return cls.from_config(config)
    except ValueError as err:
        name = config.get("name", "?")
        if f"'{name}'" in str(err):
            raise
        raise ValueError(f"Layer '{name}' ({spec['class_name']}): {err}") from None
