"""Saving and serialization (`cnnkit.saving` mirrors `keras.saving`): load_model, save_model, load_weights,
save_weights, the registry of custom objects (register_keras_serializable, get_custom_objects,
custom_object_scope, get_registered_name, get_registered_object) and serialize/deserialize_keras_object.

Example:
    >>> from cnnkit.saving import register_keras_serializable, load_model
    >>> @register_keras_serializable(package="my_package")
    ... class Scale(Layer): ...
    >>> model = load_model("model.keras")  # finds 'my_package>Scale' without custom_objects

The registry (`cnnkit.saving.object_registration`) imports nothing from cnnkit, so the layers, losses and metrics
below it consult it; the functions that need models are imported when first used.
"""

from cnnkit.saving.object_registration import CustomObjectScope as CustomObjectScope
from cnnkit.saving.object_registration import custom_object_scope as custom_object_scope
from cnnkit.saving.object_registration import get_custom_objects as get_custom_objects
from cnnkit.saving.object_registration import get_registered_name as get_registered_name
from cnnkit.saving.object_registration import get_registered_object as get_registered_object
from cnnkit.saving.object_registration import register_keras_serializable as register_keras_serializable

_LAZY = {
    "serialize_keras_object": "cnnkit.saving.serialization_lib",
    "deserialize_keras_object": "cnnkit.saving.serialization_lib",
    "load_model": "cnnkit.saving.saving_api",
    "save_model": "cnnkit.saving.saving_api",
    "load_weights": "cnnkit.saving.saving_api",
    "save_weights": "cnnkit.saving.saving_api",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnkit.saving' has no attribute '{name}'")


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "load_weights",
           "register_keras_serializable", "save_model", "save_weights", "serialize_keras_object"]
