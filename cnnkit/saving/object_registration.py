"""The one registry of custom objects (Keras 3's `keras.saving` object registration).

Every name lookup made while reading a config or a file (layers, losses, metrics, optimizers, activations,
initializers, regularizers, Lambda functions) goes through `get_registered_object`, in Keras's order:

1. the innermost open `custom_object_scope` (what `load_model(..., custom_objects=...)` opens), this thread;
2. the objects registered with `@register_keras_serializable` (or put in `get_custom_objects()`);
3. the `custom_objects` dict passed to the call;
4. cnnkit's own objects (the `Registry` of each kind, `cnnkit.registry`).

A class registered as `register_keras_serializable(package='Custom')` is written to configs with
`registered_name='Custom>ClassName'` (Keras's form), so a `.keras` file holding it opens in Keras when Keras has a
class registered under the same name, and the reverse.

This module imports nothing from cnnkit, so that every layer of the library may consult it.

Example:
    >>> @register_keras_serializable(package="my_package")
    ... class Scale(Layer):
    ...     def get_config(self):
    ...         return super().get_config()
    >>> get_registered_name(Scale)
    'my_package>Scale'
    >>> get_registered_object('my_package>Scale') is Scale
    True
"""

import inspect
import threading

GLOBAL_CUSTOM_OBJECTS = {}  # 'package>name' -> class or function (Keras's dict, `get_custom_objects()`)
GLOBAL_CUSTOM_NAMES = {}  # class or function -> 'package>name'
_scopes = threading.local()  # this thread's open custom_object_scope dicts, innermost last


class CustomObjectScope:
    """Context manager (Keras's `custom_object_scope`): inside it, configs and files that name a class or function
    find it in `custom_objects` ({name: object}) first. Scopes nest (the innermost wins) and are per thread.

    Args:
        custom_objects: dict {name: class or function}; the name is the class name or the registered name.

    Example:
        >>> with custom_object_scope({"MyLayer": MyLayer}):
        ...     model = load_model("model.keras")
    """

    def __init__(self, custom_objects=None, *more):
        objects = {}
        for item in (custom_objects, *more):  # Keras 2 took several dicts
            if item is None:
                continue
            if not isinstance(item, dict):
                raise ValueError("custom_object_scope: custom_objects must be a dict {name: object}. "
                                 f"Received: {item!r}")
            objects.update(item)
        self.custom_objects = objects

    @property
    def objects(self):
        return self.custom_objects

    def __enter__(self):
        _scopes.items = [*getattr(_scopes, "items", []), self.custom_objects]
        return self

    def __exit__(self, *exc):
        _scopes.items = _scopes.items[:-1]
        return False


custom_object_scope = CustomObjectScope


def scoped_objects():
    """The objects of the open scopes of this thread, merged (the innermost winning)."""
    merged = {}
    for objects in getattr(_scopes, "items", []):
        merged.update(objects)
    return merged


def get_custom_objects():
    """The live global dict of registered custom objects {'package>name': object} (Keras's): objects of
    `custom_object_scope` are not in it.

    Example:
        >>> get_custom_objects()["MyObject"] = MyObject
    """
    return GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """Class or function decorator: registers the object as `'package>name'` (name: default the object's
    `__name__`), so that configs and files naming it can be read without `custom_objects`.

    Args:
        package: the package part of the key (first argument of the decorator).
        name: the name part; default: the class or function's name.

    Raises:
        ValueError: a class without `get_config()`, or a package or name that is not a non-empty string without
            '>'.
    """
    for what, value in (("package", package), ("name", name)):
        if value is not None and (not isinstance(value, str) or not value or ">" in value):
            raise ValueError(f"register_keras_serializable: {what} must be a non-empty string without '>'. "
                             f"Received: {what}={value!r}")
    if package is None:
        raise ValueError("register_keras_serializable: package must be a non-empty string without '>'. "
                         "Received: package=None")

    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered_name = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method. "
                             f"Received: {arg.__name__}")
        GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj):
    """The name `obj` is registered under ('package>name'), or its `__name__` when it is not registered."""
    if obj in GLOBAL_CUSTOM_NAMES:
        return GLOBAL_CUSTOM_NAMES[obj]
    return obj.__name__


def is_registered(obj):
    """Whether `obj` was registered with `register_keras_serializable`."""
    try:
        return obj in GLOBAL_CUSTOM_NAMES
    except TypeError:  # unhashable
        return False


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The class or function for `name`: from the open `custom_object_scope`s, the registered objects,
    `custom_objects`, then `module_objects` (Keras's order); None if none has it."""
    if not isinstance(name, str):
        return None
    for objects in reversed(getattr(_scopes, "items", ())):  # innermost scope first
        if name in objects:
            return objects[name]
    for table in (GLOBAL_CUSTOM_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in table:
            return table[name]
    return None


def registered_names():
    """Every name the scopes and the global registry know, for "did you mean" messages."""
    return sorted({*scoped_objects(), *GLOBAL_CUSTOM_OBJECTS})
