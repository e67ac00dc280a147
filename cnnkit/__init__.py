"""cnnkit: Keras-compatible convolutional neural networks on a PyTorch engine.

Change `from tensorflow.keras import ...` to `from cnnkit import ...` and the same code runs.
"""

from cnnkit import activations as activations
from cnnkit import applications as applications
from cnnkit import backend as backend
from cnnkit import callbacks as callbacks
from cnnkit import config as config
from cnnkit import data as data
from cnnkit import datasets as datasets
from cnnkit import distributed as distributed
from cnnkit import initializers as initializers
from cnnkit import layers as layers
from cnnkit import losses as losses
from cnnkit import metrics as metrics
from cnnkit import mixed_precision as mixed_precision
from cnnkit import models as models
from cnnkit import ops as ops
from cnnkit import optimizers as optimizers
from cnnkit import preprocessing as preprocessing
from cnnkit import regularizers as regularizers
from cnnkit import saving as saving
from cnnkit import utils as utils
from cnnkit import visualization as visualization
from cnnkit.layers import Input as Input
from cnnkit.models import Model as Model
from cnnkit.models import Sequential as Sequential

__version__ = "0.1.0"

__all__ = ["Input", "Model", "Sequential", "activations", "applications", "backend", "callbacks", "config", "data",
           "datasets", "distributed", "initializers", "layers", "losses", "metrics", "mixed_precision", "models", "ops", "optimizers",
           "preprocessing", "regularizers", "saving", "utils", "visualization"]
