"""One name -> object registry, used for activations, initializers, losses, metrics, optimizers, layers and
applications.

Unknown names fail with the list of valid ones and a "did you mean ...?" suggestion.
"""

import difflib
import inspect

from cnnkit.saving import object_registration


def did_you_mean(name, choices):
    """Returns ' Did you mean 'x'?' for the closest of `choices` to `name`, or ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        lowered = {str(c).lower(): c for c in choices}
        if str(name).lower() in lowered:
            close = [lowered[str(name).lower()]]
    return f" Did you mean '{close[0]}'?" if close else ""


def init_parameter_names(cls):
    """The keyword names the constructors of `cls` and its bases accept (for "did you mean" messages)."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(vars(klass)["__init__"]).parameters
            names.update(p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY))
    names.discard("self")
    return names


def check_kwargs(owner, kwargs, allowed):
    """Raises TypeError for keyword arguments not in `allowed`, each with its closest valid name.

    Args:
        owner: what the keywords were given to, e.g. 'Conv2D' or 'fit()'.
        kwargs: the keyword arguments received (a dict); all in `allowed` (or none) means all is well.
        allowed: names that would have been accepted.
    """
    unknown = [key for key in kwargs if key not in allowed]
    if len(unknown) == 1:
        key = unknown[0]
        raise TypeError(f"{owner} got an unexpected keyword argument '{key}'.{did_you_mean(key, allowed)}")
    if unknown:
        hints = "".join(f"\n  '{key}'.{did_you_mean(key, allowed) or ' (no similar argument)'}" for key in unknown)
        raise TypeError(f"{owner} got unexpected keyword arguments: {', '.join(repr(k) for k in unknown)}.{hints}")


class Registry:
    """A mapping from names (and aliases) to objects, with Keras-style `get`.

    Args:
        kind: what the registry holds, used in error messages ('activation', 'layer', ...).

    Example:
        >>> reg = Registry("activation")
        >>> reg.register("relu", lambda x: x)
        >>> reg.get("relu") is not None
        True
    """

    def __init__(self, kind):
        self.kind = kind
        self._objects = {}
        self._names = {}

    def register(self, name, obj=None, aliases=()):
        """Registers `obj` under `name` (and `aliases`); usable as a decorator when obj is None."""
        if obj is None:
            return lambda o: self.register(name, o, aliases)
        for key in (name, *aliases):
            self._objects[key] = obj
        self._names.setdefault(id(obj), name)
        return obj

    def names(self):
        return sorted(self._objects)

    def __contains__(self, name):
        return name in self._objects

    def lookup(self, name):
        """Returns the object for `name`, looked up as Keras deserialisation does: an open `custom_object_scope`
        (what `load_model(..., custom_objects=...)` opens), then the objects registered with
        `register_keras_serializable` ('package>name', or a bare name put in `get_custom_objects()`), then this
        registry, then a registered 'package>name' whose name part is `name`; or raises ValueError listing the
        valid names with a "did you mean"."""
        custom = object_registration.get_registered_object(name)
        if custom is not None:
            return custom
        if name in self._objects:
            return self._objects[name]
        if isinstance(name, str) and ">" not in name:
            for key, obj in object_registration.get_custom_objects().items():
                if key.endswith(f">{name}"):
                    return obj
        choices = [*self._objects, *object_registration.registered_names()]
        raise ValueError(
            f"Unknown {self.kind}: '{name}'.{did_you_mean(name, choices)} "
            f"Valid names: {', '.join(self.names())}."
        )

    def name_of(self, obj):
        """The canonical registered name of `obj`, or None."""
        return self._names.get(id(obj))
