"""Models (`cnnkit.models` mirrors `keras.models`): Model, Sequential, load_model, save_model, clone_model,
model_from_json, model_from_config."""

from cnnkit.models.cloning import clone_model as clone_model
from cnnkit.models.cloning import model_from_json as model_from_json
from cnnkit.models.functional import Functional as Functional
from cnnkit.models.model import Model as Model
from cnnkit.models.saving import load_model as load_model
from cnnkit.models.saving import model_from_config as model_from_config
from cnnkit.models.saving import save_model as save_model
from cnnkit.models.sequential import Sequential as Sequential
