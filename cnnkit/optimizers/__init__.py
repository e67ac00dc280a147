"""Optimizers with Keras names, arguments, defaults and update rules (`cnnkit.optimizers` mirrors
`keras.optimizers`)."""

from cnnkit.optimizers import schedules as schedules
from cnnkit.optimizers.adam import Adam as Adam
from cnnkit.optimizers.adam import AdamW as AdamW
from cnnkit.optimizers.adam import Nadam as Nadam
from cnnkit.optimizers.adaptive import Adafactor as Adafactor
from cnnkit.optimizers.adaptive import Adamax as Adamax
from cnnkit.optimizers.adaptive import Ftrl as Ftrl
from cnnkit.optimizers.adaptive import Lamb as Lamb
from cnnkit.optimizers.adaptive import Lion as Lion
from cnnkit.optimizers.base import Optimizer as Optimizer
from cnnkit.optimizers.loss_scale import LossScaleOptimizer as LossScaleOptimizer
from cnnkit.optimizers.rmsprop import Adadelta as Adadelta
from cnnkit.optimizers.rmsprop import Adagrad as Adagrad
from cnnkit.optimizers.rmsprop import RMSprop as RMSprop
from cnnkit.optimizers.sgd import SGD as SGD
from cnnkit.registry import Registry

OPTIMIZERS = Registry("optimizer")
for _cls in (SGD, Adam, AdamW, Nadam, RMSprop, Adagrad, Adadelta, Adamax, Ftrl, Lion, Lamb, Adafactor):
    OPTIMIZERS.register(_cls.__name__.lower(), _cls, aliases=(_cls.__name__,))


def get(identifier):
    """An optimizer from a name ('adam', 'rmsprop', 'sgd', ...), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        if identifier.get("class_name") == "LossScaleOptimizer":
            return LossScaleOptimizer.from_config(identifier.get("config", {}))
        return OPTIMIZERS.lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return OPTIMIZERS.lookup(identifier)()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Expected a name or an Optimizer.")


def serialize(optimizer):
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None}
