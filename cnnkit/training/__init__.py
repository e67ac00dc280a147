"""Training: the Trainer mixin (compile/fit/evaluate/predict), data adapters, callbacks, and the learning-rate
finder (`cnnkit.training.lr_find`)."""

from cnnkit.training.lr_finder import LRFinderResult as LRFinderResult
from cnnkit.training.lr_finder import lr_find as lr_find
