"""Models (`cnnkit.models` mirrors `keras.models`): Model, Sequential, load_model."""

from cnnkit.models.functional import Functional as Functional
from cnnkit.models.model import Model as Model
from cnnkit.models.saving import load_model as load_model
from cnnkit.models.saving import model_from_config as model_from_config
from cnnkit.models.saving import save_model as save_model
from cnnkit.models.sequential import Sequential as Sequential
