"""Losses with Keras names, arguments, formulas and reductions (`cnnkit.losses` mirrors `keras.losses`).

Each loss has a function giving one value per sample (`categorical_crossentropy(y_true, y_pred)` -> (batch,))
and a class that reduces it (`CategoricalCrossentropy()(y_true, y_pred, sample_weight)` -> scalar). Inputs are
torch tensors (or arrays) in Keras layout, classes on the last axis. `get(name)` accepts Keras 3's names
('mse', 'binary_focal_crossentropy', 'Dice', ...) and returns a Loss object.

Example:
    >>> from cnnkit import losses
    >>> losses.get("mape").name
    'mean_absolute_percentage_error'
"""

from cnnkit.losses.base import EPSILON as EPSILON
from cnnkit.losses.base import LOSSES as LOSSES
from cnnkit.losses.base import REDUCTIONS as REDUCTIONS
from cnnkit.losses.base import Loss as Loss
from cnnkit.losses.base import LossFunctionWrapper as LossFunctionWrapper
from cnnkit.losses.base import reduce_loss as reduce_loss
from cnnkit.losses.probabilistic import BinaryCrossentropy as BinaryCrossentropy
from cnnkit.losses.probabilistic import BinaryFocalCrossentropy as BinaryFocalCrossentropy
from cnnkit.losses.probabilistic import CategoricalCrossentropy as CategoricalCrossentropy
from cnnkit.losses.probabilistic import CategoricalFocalCrossentropy as CategoricalFocalCrossentropy
from cnnkit.losses.probabilistic import KLDivergence as KLDivergence
from cnnkit.losses.probabilistic import Poisson as Poisson
from cnnkit.losses.probabilistic import SparseCategoricalCrossentropy as SparseCategoricalCrossentropy
from cnnkit.losses.probabilistic import binary_crossentropy as binary_crossentropy
from cnnkit.losses.probabilistic import binary_focal_crossentropy as binary_focal_crossentropy
from cnnkit.losses.probabilistic import categorical_crossentropy as categorical_crossentropy
from cnnkit.losses.probabilistic import categorical_focal_crossentropy as categorical_focal_crossentropy
from cnnkit.losses.probabilistic import kl_divergence as kl_divergence
from cnnkit.losses.probabilistic import poisson as poisson
from cnnkit.losses.probabilistic import sparse_categorical_crossentropy as sparse_categorical_crossentropy
from cnnkit.losses.regression import CategoricalHinge as CategoricalHinge
from cnnkit.losses.regression import CosineSimilarity as CosineSimilarity
from cnnkit.losses.regression import Dice as Dice
from cnnkit.losses.regression import Hinge as Hinge
from cnnkit.losses.regression import Huber as Huber
from cnnkit.losses.regression import LogCosh as LogCosh
from cnnkit.losses.regression import MeanAbsoluteError as MeanAbsoluteError
from cnnkit.losses.regression import MeanAbsolutePercentageError as MeanAbsolutePercentageError
from cnnkit.losses.regression import MeanSquaredError as MeanSquaredError
from cnnkit.losses.regression import MeanSquaredLogarithmicError as MeanSquaredLogarithmicError
from cnnkit.losses.regression import SquaredHinge as SquaredHinge
from cnnkit.losses.regression import Tversky as Tversky
from cnnkit.losses.regression import categorical_hinge as categorical_hinge
from cnnkit.losses.regression import cosine_similarity as cosine_similarity
from cnnkit.losses.regression import dice as dice
from cnnkit.losses.regression import hinge as hinge
from cnnkit.losses.regression import huber as huber
from cnnkit.losses.regression import log_cosh as log_cosh
from cnnkit.losses.regression import mean_absolute_error as mean_absolute_error
from cnnkit.losses.regression import mean_absolute_percentage_error as mean_absolute_percentage_error
from cnnkit.losses.regression import mean_squared_error as mean_squared_error
from cnnkit.losses.regression import mean_squared_logarithmic_error as mean_squared_logarithmic_error
from cnnkit.losses.regression import squared_hinge as squared_hinge
from cnnkit.losses.regression import tversky as tversky

# (names: the first is the canonical one; Keras 3's `keras.losses.get` accepts all of them), class
_NAMES = [
    (("categorical_crossentropy", "CategoricalCrossentropy"), CategoricalCrossentropy),
    (("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"), SparseCategoricalCrossentropy),
    (("binary_crossentropy", "bce", "BCE", "BinaryCrossentropy"), BinaryCrossentropy),
    (("binary_focal_crossentropy", "BinaryFocalCrossentropy"), BinaryFocalCrossentropy),
    (("categorical_focal_crossentropy", "CategoricalFocalCrossentropy"), CategoricalFocalCrossentropy),
    (("mean_squared_error", "mse", "MSE", "MeanSquaredError"), MeanSquaredError),
    (("mean_absolute_error", "mae", "MAE", "MeanAbsoluteError"), MeanAbsoluteError),
    (("mean_absolute_percentage_error", "mape", "MAPE", "MeanAbsolutePercentageError"), MeanAbsolutePercentageError),
    (("mean_squared_logarithmic_error", "msle", "MSLE", "MeanSquaredLogarithmicError"), MeanSquaredLogarithmicError),
    (("huber", "huber_loss", "Huber"), Huber),
    (("log_cosh", "LogCosh"), LogCosh),
    (("kl_divergence", "kld", "KLD", "kullback_leibler_divergence", "KLDivergence"), KLDivergence),
    (("poisson", "Poisson"), Poisson),
    (("cosine_similarity", "CosineSimilarity"), CosineSimilarity),
    (("hinge", "Hinge"), Hinge),
    (("squared_hinge", "SquaredHinge"), SquaredHinge),
    (("categorical_hinge", "CategoricalHinge"), CategoricalHinge),
    (("dice", "Dice"), Dice),
    (("tversky", "Tversky"), Tversky),
]
for _names, _cls in _NAMES:
    LOSSES.register(_names[0], _cls, aliases=_names[1:])


def get(identifier):
    """A loss object from a name ('categorical_crossentropy', 'mse', 'CategoricalCrossentropy'), a config dict, a
    Loss instance or class, or any callable `fn(y_true, y_pred)` (wrapped with the default reduction)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return LOSSES.lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return LOSSES.lookup(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. Expected a name, a Loss or a callable.")
