"""`serialize_keras_object` / `deserialize_keras_object`: Python objects to and from Keras 3's config dicts,
{'module', 'class_name', 'config', 'registered_name'}.

cnnkit's own objects are written under Keras's public names ('keras.layers' > 'Conv2D', 'keras.losses' >
'CategoricalCrossentropy', 'keras.activations' > function 'relu'), custom ones under their Python module, class
name and registered name ('Custom>MyLayer'), so configs interchange with Keras. Reading resolves names through the
one registry of custom objects (`cnnkit.saving.object_registration`), then cnnkit's own registries.

Example:
    >>> config = serialize_keras_object(Dense(3))
    >>> config["module"], config["class_name"]
    ('keras.layers', 'Dense')
    >>> layer = deserialize_keras_object(config)
"""

import types
import warnings

import numpy as np
import torch

from cnnkit.config import SafeModeScope
from cnnkit.config import in_safe_mode
from cnnkit.registry import did_you_mean
from cnnkit.saving import object_registration

PLAIN_TYPES = (str, int, float, bool)


def _module_of(cls_or_fn):
    module = cls_or_fn.__module__
    return None if module == "__main__" else module


def _is_cnnkit(cls_or_fn):
    return (cls_or_fn.__module__ or "").split(".")[0] == "cnnkit"


def _keras_kinds():
    """(cnnkit base class, Keras module) pairs for objects written as {'module': 'keras.<kind>', ...}."""
    from cnnkit import initializers  # noqa: PLC0415 (this module sits below them all)
    from cnnkit import losses
    from cnnkit import metrics
    from cnnkit import optimizers
    from cnnkit import regularizers
    from cnnkit.optimizers import schedules

    return ((losses.Loss, "keras.losses"), (metrics.Metric, "keras.metrics"),
            (optimizers.Optimizer, "keras.optimizers"), (schedules.LearningRateSchedule, "keras.optimizers.schedules"),
            (initializers.Initializer, "keras.initializers"), (regularizers.Regularizer, "keras.regularizers"))


def _serialize_function(fn):
    """Keras's form of a function: module 'builtins', class_name 'function', the registered (or activation, or
    Python) name as the config."""
    from cnnkit import activations  # noqa: PLC0415

    if object_registration.is_registered(fn):
        name = object_registration.get_registered_name(fn)
    else:
        name = (activations.ACTIVATIONS.name_of(fn) if _is_cnnkit(fn) else None) or fn.__name__
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def serialize_keras_object(obj):
    """The config dict of `obj` in Keras 3's form (a reciprocal of `deserialize_keras_object`).

    Args:
        obj: a layer, model, loss, metric, optimizer, initializer, regularizer, schedule, a function, a
            registered custom object, or plain data (numbers, strings, lists, dicts, numpy arrays, tensors).

    Returns:
        A JSON-safe structure: {'module', 'class_name', 'config', 'registered_name'} for objects.

    Raises:
        TypeError: an object without `get_config()` (Keras's message).
    """
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, torch.Tensor):
        return {"class_name": "__tensor__", "config": {"value": obj.detach().cpu().numpy().tolist(),
                                                      "dtype": str(obj.dtype).replace("torch.", "")}}
    if isinstance(obj, (np.ndarray, np.generic)):
        if isinstance(obj, np.ndarray) and obj.ndim > 0:
            return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
        return obj.item()
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        from cnnkit.layers.lambda_layer import serialize_function  # noqa: PLC0415

        warnings.warn("The object being serialized includes a `lambda`. This is unsafe. In order to reload the "
                      "object, you will have to pass `safe_mode=False` to the loading function.", stacklevel=2)
        return serialize_function(obj, "serialize_keras_object")
    if isinstance(obj, types.FunctionType):
        return _serialize_function(obj)
    from cnnkit.layers.base import Layer  # noqa: PLC0415

    if isinstance(obj, Layer):
        from cnnkit.models.functional import Functional  # noqa: PLC0415

        if isinstance(obj, Functional) and obj.built:  # a model: with its build and compile configs, as Keras
            from cnnkit.models.cloning import model_config  # noqa: PLC0415

            return model_config(obj)
        from cnnkit.layers.serialization import serialize  # noqa: PLC0415

        return serialize(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"Cannot serialize object {obj!r} of type {type(obj)}. To be serializable, a class must "
                        "implement the `get_config()` method.")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj} should return a dict. It returned: {config}")
    cls = type(obj)
    inner = serialize_keras_object(config)
    if _is_cnnkit(cls) and not object_registration.is_registered(cls):
        module = next((m for base, m in _keras_kinds() if isinstance(obj, base)), "keras")
        return {"module": module, "class_name": cls.__name__, "config": inner, "registered_name": None}
    return {"module": _module_of(cls), "class_name": cls.__name__, "config": inner,
            "registered_name": object_registration.get_registered_name(cls)}


# ---- reading -----------------------------------------------------------------------------------------------


def _lookup(names, custom_objects):
    for name in names:
        found = object_registration.get_registered_object(name, custom_objects=custom_objects)
        if found is not None:
            return found
    return None


def _not_found(kind, name, config):
    registered = config.get("registered_name") if isinstance(config, dict) else None
    hint = did_you_mean(registered if registered and registered != "function" else name,
                        object_registration.registered_names())
    return TypeError(f"Could not locate {kind} '{name}'. Make sure custom classes and functions are decorated with "
                     f"`@cnnkit.saving.register_keras_serializable()` (or passed in custom_objects).{hint} "
                     f"Full object config: {config}")


def _builtin_function(name, module, config):
    from cnnkit import activations  # noqa: PLC0415
    from cnnkit import losses
    from cnnkit import metrics

    modules = {"keras.activations": (activations,), "keras.losses": (losses,), "keras.metrics": (metrics,),
               "builtins": (activations, losses, metrics)}
    for mod in modules.get(module, ()):
        if mod is activations and name in activations.ACTIVATIONS:
            return activations.ACTIVATIONS.lookup(name)
        fn = vars(mod).get(name)
        if isinstance(fn, types.FunctionType):
            return fn
    if ">" not in str(name):
        for key, obj in object_registration.get_custom_objects().items():
            if key.endswith(f">{name}"):
                return obj
    raise _not_found("function", name, config)


def _builtin_object(config):
    """A cnnkit object for a config written under a Keras module ('keras.losses', 'keras.layers', ...)."""
    from cnnkit import initializers  # noqa: PLC0415
    from cnnkit import losses
    from cnnkit import metrics
    from cnnkit import optimizers
    from cnnkit import regularizers
    from cnnkit.layers.serialization import deserialize
    from cnnkit.optimizers import schedules

    module, class_name = config.get("module") or "", config["class_name"]
    inner = config.get("config") or {}
    spec = {"class_name": class_name, "config": inner}
    if module == "keras.losses":
        return losses.get(spec)
    if module == "keras.metrics":
        return metrics.METRICS.lookup(class_name).from_config(inner)
    if module == "keras.optimizers":
        return optimizers.get(spec)
    if module == "keras.optimizers.schedules":
        return schedules.deserialize(spec)
    if module == "keras.initializers":
        return initializers.get(spec)
    if module == "keras.regularizers":
        return regularizers.get(spec)
    return deserialize(config)  # keras.layers, keras.models, keras.src.* (registered Keras classes), keras


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object described by a Keras config dict (the reciprocal of `serialize_keras_object`).

    Names are resolved as Keras does: the registered name in an open `custom_object_scope`, the registered custom
    objects and `custom_objects`; then cnnkit's objects for Keras's modules ('keras.layers', 'keras.losses', ...).

    Args:
        config: a dict {'module', 'class_name', 'config', 'registered_name'}, a list of them, or plain data.
        custom_objects: dict {name: class or function} (class names or registered names).
        safe_mode: True (default) refuses Python lambdas stored as bytecode; a `SafeModeScope` around the call
            wins.

    Returns:
        The object (a string that names no custom object is returned as is, as Keras does).

    Raises:
        TypeError: a class or function that cannot be found (registered names get a "did you mean").
        ValueError: a lambda in safe mode.
    """
    module_objects = kwargs.pop("module_objects", None)
    ambient = in_safe_mode()
    safe_mode = ambient if ambient is not None else safe_mode
    custom_objects = dict(custom_objects or {})
    if config is None:
        return None
    if isinstance(config, str):
        found = _lookup([config], {**(module_objects or {}), **custom_objects})
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode) for x in config]
    if isinstance(config, PLAIN_TYPES):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"Could not parse config: {config}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value, custom_objects, safe_mode) for key, value in config.items()}
    class_name, inner = config["class_name"], config["config"] if config["config"] is not None else {}
    special = _special(class_name, inner, custom_objects, safe_mode)
    if special is not _NONE:
        return special
    module, registered = config.get("module"), config.get("registered_name")
    if class_name == "function":
        found = _lookup(dict.fromkeys([n for n in (registered, inner) if n and n != "function"]), custom_objects)
        return found if found is not None else _builtin_function(inner, module, config)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name}, instead got {type(inner)}. "
                        f"Full config: {config}")
    cls = _lookup(dict.fromkeys([n for n in (registered, class_name) if n]), custom_objects)
    with object_registration.custom_object_scope(custom_objects), SafeModeScope(safe_mode):
        obj = _instantiate(cls, config, class_name, module, inner)
        if config.get("compile_config") and callable(getattr(obj, "compile", None)):
            from cnnkit.models.keras_config import compile_args  # noqa: PLC0415 (models sit above)

            obj.compile(**compile_args(config["compile_config"]))  # Keras's compile_from_config
    return obj


def _instantiate(cls, config, class_name, module, inner):
    if cls is None:
        if not (module == "keras" or (module or "").startswith("keras.")):
            raise _not_found("class", class_name, config)
        return _builtin_object(config)
    if isinstance(cls, types.FunctionType):
        return cls
    from cnnkit.layers.base import Layer  # noqa: PLC0415

    if isinstance(cls, type) and issubclass(cls, Layer):
        from cnnkit.layers.serialization import deserialize  # noqa: PLC0415

        return deserialize(config)
    if not hasattr(cls, "from_config"):
        raise TypeError(f"Unable to reconstruct an instance of '{class_name}' because the class is missing a "
                        f"`from_config()` method. Full object config: {config}")
    return cls.from_config(inner)


_NONE = object()


def _special(class_name, inner, custom_objects, safe_mode):
    """Keras's special forms (__numpy__, __tensor__, __bytes__, __lambda__, __slice__, __ellipsis__), or _NONE."""
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__tensor__":
        return torch.tensor(np.array(inner["value"], dtype=inner["dtype"]))
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(*(deserialize_keras_object(inner[k], custom_objects, safe_mode)
                       for k in ("start", "stop", "step")))
    if class_name == "__lambda__":
        from cnnkit.layers.lambda_layer import deserialize_function  # noqa: PLC0415

        with SafeModeScope(bool(safe_mode) if safe_mode is not None else True):
            return deserialize_function({"class_name": "__lambda__", "config": inner}, "deserialize_keras_object")
    return _NONE
