"""Weight regularizers (Keras names): a penalty added to the loss for each regularized weight."""

from cnnkit.registry import Registry

REGULARIZERS = Registry("regularizer")


class Regularizer:
    def __call__(self, weight):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w ** 2) (Keras's L2 has no factor 1/2)."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a float >= 0. Received: {name}={value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight):
        penalty = weight.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * weight.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * weight.square().sum()
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


REGULARIZERS.register("l1", L1, aliases=("L1",))
REGULARIZERS.register("l2", L2, aliases=("L2",))
REGULARIZERS.register("l1_l2", L1L2, aliases=("L1L2",))


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    """Keras's l1_l2 shortcut defaults both factors to 0.01."""
    return L1L2(l1, l2)


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return REGULARIZERS.lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return REGULARIZERS.lookup(identifier)()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}.")


def serialize(regularizer):
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
                "config": regularizer.get_config(), "registered_name": None}
    raise ValueError(f"Cannot serialize regularizer {regularizer!r}: not a cnnkit regularizer.")


