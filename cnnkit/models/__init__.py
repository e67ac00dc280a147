"""Models (`cnnkit.models` mirrors `keras.models`): Model, Sequential."""

from cnnkit.models.model import Model as Model
from cnnkit.models.sequential import Sequential as Sequential
