"""Callbacks (`cnnkit.callbacks` mirrors `keras.callbacks`); implemented in `cnnkit.training.callbacks`."""

from cnnkit.training.callbacks import BackupAndRestore as BackupAndRestore
from cnnkit.training.callbacks import Callback as Callback
from cnnkit.training.callbacks import CallbackList as CallbackList
from cnnkit.training.callbacks import CSVLogger as CSVLogger
from cnnkit.training.callbacks import EarlyStopping as EarlyStopping
from cnnkit.training.callbacks import History as History
from cnnkit.training.callbacks import LambdaCallback as LambdaCallback
from cnnkit.training.callbacks import LearningRateScheduler as LearningRateScheduler
from cnnkit.training.callbacks import ModelCheckpoint as ModelCheckpoint
from cnnkit.training.callbacks import ProgbarLogger as ProgbarLogger
from cnnkit.training.callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from cnnkit.training.callbacks import SwapEMAWeights as SwapEMAWeights
from cnnkit.training.callbacks import TensorBoard as TensorBoard
from cnnkit.training.callbacks import TerminateOnNaN as TerminateOnNaN
