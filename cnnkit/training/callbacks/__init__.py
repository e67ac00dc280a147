"""Callbacks (`cnnkit.callbacks` mirrors `keras.callbacks`)."""

from cnnkit.training.callbacks.backup import BackupAndRestore as BackupAndRestore
from cnnkit.training.callbacks.callback import Callback as Callback
from cnnkit.training.callbacks.callback import CallbackList as CallbackList
from cnnkit.training.callbacks.callback import History as History
from cnnkit.training.callbacks.callback import LambdaCallback as LambdaCallback
from cnnkit.training.callbacks.callback import TerminateOnNaN as TerminateOnNaN
from cnnkit.training.callbacks.monitor import CSVLogger as CSVLogger
from cnnkit.training.callbacks.monitor import EarlyStopping as EarlyStopping
from cnnkit.training.callbacks.monitor import LearningRateScheduler as LearningRateScheduler
from cnnkit.training.callbacks.monitor import ModelCheckpoint as ModelCheckpoint
from cnnkit.training.callbacks.monitor import ReduceLROnPlateau as ReduceLROnPlateau
from cnnkit.training.callbacks.progbar import ProgbarLogger as ProgbarLogger
from cnnkit.training.callbacks.swap_ema import SwapEMAWeights as SwapEMAWeights
from cnnkit.training.callbacks.tensorboard import TensorBoard as TensorBoard
