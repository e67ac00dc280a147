"""`Trainer`: compile / fit / evaluate / predict, mixed into `Model`.

The trainer sees the model only through `torch.nn.Module.__call__` (internal layout in and out),
`trainable_weights`, `losses`, `layers` and `get/set_weights`, so it needs nothing from `cnnkit.models`.

Speed rules: the model runs in torch's channels-first layout with channels_last memory (inputs are moved by a view);
losses and metrics accumulate on the device; nothing reads a number from the device inside the step loop unless a
callback asks for batch logs (the progress bar reads them a few times a second).
"""

import warnings
import weakref

import numpy as np
import torch

from cnnkit import config
from cnnkit import losses as losses_module
from cnnkit import optimizers
from cnnkit.layers.node import flatten
from cnnkit.ops import layout
from cnnkit.registry import check_kwargs
from cnnkit.training import cache_policy
from cnnkit.training import checks
from cnnkit.training import custom_steps
from cnnkit.training import data_adapter
from cnnkit.training import distributed
from cnnkit.training import frozen
from cnnkit.training import interrupts
from cnnkit.training import jit
from cnnkit.training import outputs
from cnnkit.training import precision
from cnnkit.training import strategies
from cnnkit.training.batches import BatchMethods
from cnnkit.training.callbacks.callback import Callback
from cnnkit.training.callbacks.callback import CallbackList
from cnnkit.training.callbacks.callback import History
from cnnkit.training.callbacks.progbar import ProgbarLogger
from cnnkit.training.evaluation import EvaluationMethods
from cnnkit.training.loss_methods import LossMethods
from cnnkit.training.metric_logs import MetricLogs

_module_call = torch.nn.Module.__call__


def _weak_refs(*values):
    """Weak references to `values` (None where one cannot be made): the model does not keep fit's data alive."""
    refs = []
    for value in values:
        try:
            refs.append(weakref.ref(value))
        except TypeError:  # tuples, lists, None
            refs.append(None)
    return tuple(refs)


def _should_eval(epoch, validation_freq):
    """Keras's rule: validate after epochs that are multiples of an int `validation_freq`, or listed in it."""
    if (isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool)
            and validation_freq >= 1):
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, (list, tuple, set, range)):
        return epoch + 1 in validation_freq
    raise ValueError(f"validation_freq must be a positive int or a list of epochs (1-based). "
                     f"Received: validation_freq={validation_freq!r}")


def _ran_out(steps_run, steps):
    """Whether an epoch ended for lack of data: no batch at all (a generator already exhausted), or fewer than
    the `steps` asked for (None: data of unknown length, whose epoch is one whole pass)."""
    return steps_run == 0 if steps is None else steps_run < steps


class Trainer(MetricLogs, LossMethods, BatchMethods, EvaluationMethods):
    """Keras's training API for a model."""

    compiled = False
    _strategy = strategies.SingleProcess()  # during fit: the strategy fit made (DataParallel under torchrun)

    # ---- compile -------------------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, jit_compile="auto",
                weighted_metrics=None, auto_scale_loss=True, **kwargs):
        """Configures training.

        Args:
            optimizer: a name ('adam', 'rmsprop', 'sgd', ...) or an optimizer object.
            loss: a name, a Loss object or a function `fn(y_true, y_pred)`; a list or {output name: loss} dict
                for several outputs.
            metrics: a list of names ('accuracy', 'acc', 'sparse_categorical_accuracy', 'mse', ...), objects or
                functions; 'accuracy' picks the binary/categorical/sparse variant from the shapes, as Keras.
                Logged under the name written ('acc' gives 'acc' and 'val_acc'). As in Keras, these ignore
                sample_weight and class_weight.
            weighted_metrics: metrics weighted by sample_weight / class_weight (logged with a 'weighted_' prefix
                when the same name is also in `metrics`).
            loss_weights: a list or dict of per-output weights of the total loss.
            jit_compile: True runs the forward pass through torch.compile (falling back to eager, with one
                warning naming the reason, where it cannot); 'auto' (default) and False run eagerly.
            auto_scale_loss: wrap the optimizer in a `LossScaleOptimizer` when the model's dtype policy is
                'mixed_float16' (Keras's rule).
        """
        check_kwargs("compile()", kwargs, ("optimizer", "loss", "metrics", "loss_weights", "jit_compile",
                                               "weighted_metrics", "run_eagerly", "steps_per_execution",
                                               "auto_scale_loss"))
        self._jit_forward = jit.CompiledForward(self) if jit.resolve(jit_compile) else None
        self.optimizer = precision.loss_scaled(self, optimizers.get(optimizer), auto_scale_loss)
        names = self._output_names()
        self._compiled_losses = [None if spec is None else losses_module.get(spec)
                                 for spec in outputs.per_output(loss, names, "loss")]
        weights = ([1.0] * len(names) if loss_weights is None
                   else outputs.per_output(loss_weights, names, "loss_weights"))
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value and not isinstance(value, (list, tuple, dict)):  # Keras's words
                raise ValueError(f"Expected `{name}` argument to be a list, tuple, or dict. Received instead: "
                                 f"{name}={value} of type {type(value)}")
        self._metric_specs = outputs.metric_specs(metrics, names)
        self._weighted_specs = outputs.metric_specs(weighted_metrics, names)
        self.loss = loss
        self._metrics = self._loss_tracker = None
        self.compiled = True
        self.stop_training = False

    def _output_names(self):
        """The names losses, metrics and labels are keyed by: the output layers' names, or ['output'] for a model
        with one output (or a subclassed model)."""
        names = self.output_names
        return ["output"] if names is None or len(names) == 1 else names

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise ValueError(f"You must call compile() before {what}(), e.g. model.compile(optimizer='adam', "
                             "loss='sparse_categorical_crossentropy', metrics=['accuracy']).")

    # ---- steps ---------------------------------------------------------------------------------------------

    def _conform(self, x):
        """Applies the model's input checks (and Keras's trailing-1 rank adjustment) to array inputs.

        A {input name: array} dict becomes a list in the model's input order; a nested Python list of numbers for
        a one-input model becomes one array.
        """
        names = self.input_names
        if isinstance(x, dict):
            x = data_adapter.ordered(x, names, "x", "inputs")
        if isinstance(x, (list, tuple)) and x and not all(isinstance(i, (np.ndarray, torch.Tensor)) for i in x) and (
                names is None or len(names) == 1 or len(x) != len(names)):
            x = data_adapter.as_array(x, "x")
        if x is None or not data_adapter.is_array_like(x):
            return x
        items, was_list = flatten(x)
        items = self.conform_inputs([i if isinstance(i, (np.ndarray, torch.Tensor)) else np.asarray(i)
                                     for i in items])
        return items if was_list else items[0]

    def _forward(self, x, training):
        if isinstance(x, frozen.Features):  # fit(cache_frozen=True): the frozen part's cached output
            return x.run(training)
        items, was_list = flatten(x)
        internal = [layout.to_internal(t) for t in items]
        ddp = self._strategy.training_forward() if training else None  # DistributedDataParallel under torchrun
        args = internal if was_list else internal[0]
        if ddp is not None:
            out = ddp(args, training=True)
        else:
            out = (getattr(self, "_jit_forward", None) or _module_call)(self, args, training=training)
        outs, _ = flatten(out)
        return [layout.to_keras(o) for o in outs]

    def _labels(self, y):
        """y as given, a list in output order for a {output name: labels} dict."""
        if isinstance(y, dict):
            return data_adapter.ordered(y, self._output_names(), "y", "outputs")
        if isinstance(y, (list, tuple)) and y and not all(isinstance(v, (np.ndarray, torch.Tensor)) for v in y):
            return data_adapter.as_array(y, "y")  # Python labels: one array (several outputs need a list of arrays)
        return y

    def _to_device(self, x, y, sample_weight, device):
        def move(value):
            if value is None:
                return None
            items, was_list = flatten(value)
            moved = [t.to(device, non_blocking=True) for t in items]
            return moved if was_list else moved[0]
        return move(x), move(y), move(sample_weight)

    def _share_weight_layouts(self):
        """Gives the optimizer each weight's layout kind when its update depends on it (Adafactor)."""
        if getattr(self.optimizer, "needs_weight_layouts", False):
            from cnnkit.models.h5_weights import weight_refs  # noqa: PLC0415 (models import training)
            self.optimizer.set_weight_layouts({id(ref.tensor): ref.spec.kind for ref in weight_refs(self)})

    def train_step(self, data):
        """Keras's `train_step`: one optimisation step on a batch `data` ((x, y) or (x, y, sample_weight) on the
        device); returns the logs. Override it to customise `fit` (see `cnnkit.training.custom_steps`)."""
        self._train_batch(*data_adapter.unpack(data))
        return self._logs()

    def _step_runner(self, kind):
        """How fit/evaluate run a batch: cnnkit's own step, or the model's `train_step`/`test_step` override."""
        own = {"train": (Trainer.train_step, self._train_batch), "test": (Trainer.test_step, self._test_batch)}[kind]
        overridden = getattr(type(self), f"{kind}_step") is not own[0]
        return custom_steps.StepRunner(getattr(self, f"{kind}_step") if overridden else None, own[1], self._logs,
                                       self.get_metrics_result)

    def _train_batch(self, x, y, sample_weight=None):
        """cnnkit's own training step on a batch (already on the device); the metrics are updated."""
        outputs = self._forward(x, training=True)
        loss = self._loss_and_track(y, outputs, sample_weight)
        for param in self._train_params:
            param.grad = None
        self.optimizer.scale_loss(self._strategy.scale_loss(loss)).backward()
        self.optimizer.step(self._train_params)

    # ---- callbacks ---------------------------------------------------------------------------------------

    def _callback_list(self, callbacks, verbose, epochs, steps, strategy, add_history=False):
        """The user's callbacks plus History (fit) and a ProgbarLogger (verbose != 0), as Keras's CallbackList;
        under torchrun, callbacks with `chief_only = True` (and the progress bar) run on process 0 only."""
        if isinstance(callbacks, CallbackList):
            return callbacks  # as in Keras: used as given (fit passes its own list to the validation run)
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks, verbose = strategy.callbacks(list(callbacks or []), verbose)
        if add_history and not any(isinstance(cb, History) for cb in callbacks):
            callbacks.append(History())
        if verbose and not any(isinstance(cb, ProgbarLogger) for cb in callbacks):
            callbacks.append(ProgbarLogger(verbose))
        return CallbackList(callbacks, model=self, params={"verbose": verbose, "epochs": epochs, "steps": steps})

    # ---- fit -----------------------------------------------------------------------------------------------

    @interrupts.sigterm_as_interrupt()  # SIGTERM stops training as Ctrl-C does (see cnnkit.training.interrupts)
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            cache_frozen="auto", **kwargs):
        """Trains the model; returns a `History` whose `.history` maps 'loss', each metric and their 'val_'
        twins to per-epoch values. Arguments as in Keras.

        Data: arrays (numpy, torch, nested Python lists; a list for several inputs/outputs, or a dict by layer
        name), a Keras-style iterator (`__len__`/`__getitem__` returning (x, y) or (x, y, sample_weight)), a
        generator, a `cnnkit.data.Dataset` or a torch DataLoader. As in Keras, without `steps_per_epoch` an epoch
        is one pass over the data, however long (data of unknown length runs until exhausted; an infinite
        dataset, `repeat()`, needs `steps_per_epoch`, and then each epoch continues where the last one stopped).

        `cache_frozen` (cnnkit only): True computes the model's frozen first part once per sample, during epoch 1,
        and trains only the rest (see `cnnkit.training.frozen`; the results equal those without it); 'auto' (the
        default) does so when it is safe and pays (see `cnnkit.training.cache_policy`), False never.
        """
        check_kwargs("fit()", kwargs, ("x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                           "validation_split", "validation_data", "shuffle", "class_weight",
                                           "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
                                           "validation_batch_size", "validation_freq", "cache_frozen"))
        self._require_compiled("fit")
        verbose = checks.verbose(verbose)
        epochs, initial_epoch = checks.count("epochs", epochs), checks.count("initial_epoch", initial_epoch)
        _should_eval(0, validation_freq)  # checks the argument before any training
        x, y = self._conform(x), self._labels(y)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = data_adapter.split_validation(x, y, sample_weight,
                                                                                  validation_split)
        if class_weight is not None and data_adapter.is_array_like(x):
            sample_weight = self._class_weight_to_sample_weight(y, class_weight, sample_weight)
            class_weight = None
        train = data_adapter.make(x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                                  class_weight=class_weight, steps_name="steps_per_epoch")
        val = self._validation_adapter(validation_data, validation_batch_size or batch_size, validation_steps)
        checks.not_empty(train, "x", "fit")
        checks.labels_once(self, train)
        if val is not None:
            checks.not_empty(val, "validation_data", "fit")
            checks.labels_once(self, val, "validation_data")
        run = self._step_runner("train")
        if run.custom and cache_frozen is True:
            raise ValueError(f"fit(cache_frozen=True) caches for cnnkit's own training step, and model '{self.name}' "
                             "overrides train_step; pass cache_frozen=False (or leave the default).")
        train, val = cache_policy.plan(self, train, val, False if run.custom else cache_frozen, epochs - initial_epoch,
                                       verbose)
        device = self._prepare_device()
        self._train_params = list(self.trainable_weights)
        self._share_weight_layouts()
        if run.custom and distributed.world_size() > 1:
            raise ValueError(f"Model '{self.name}' overrides train_step, which runs outside DistributedDataParallel: "
                             "its gradients would not be averaged across processes. Run it in one process.")
        strategy = self._strategy = strategies.for_environment()  # under torchrun: DataParallel
        train, val = strategy.prepare_fit(self, train, val)  # each process its part of every batch

        callback_list = self._callback_list(callbacks, verbose, epochs, train.steps, strategy, add_history=True)
        self._fit_inputs = _weak_refs(x, validation_data)  # BackupAndRestore keeps their epoch state
        self.stop_training = False
        self._resume_epoch = None
        callback_list.on_train_begin()  # BackupAndRestore may set self._resume_epoch here
        initial_epoch = max(initial_epoch, self._resume_epoch or 0)
        self.train()
        try:
            epoch_logs = self._run_epochs(run, train, val, device, callback_list, strategy, initial_epoch, epochs,
                                          validation_freq)
            if epochs > 0:  # Keras: use_ema=True puts the moving averages in the model
                self.optimizer.finalize_variable_values(self._train_params)
        finally:  # also after an error, Ctrl-C or SIGTERM: no DDP wrapper or training mode left behind
            self.eval()
            strategy.finish()
            self.__dict__.pop("_strategy", None)
        callback_list.on_train_end(epoch_logs)
        history = next((cb for cb in callback_list.callbacks if isinstance(cb, History)), None)
        self.history = history if history is not None else getattr(self, "history", None)
        return self.history

    def _run_epochs(self, run, train, val, device, callback_list, strategy, initial_epoch, epochs, validation_freq):
        """fit's epochs: the training steps (`run`, a `custom_steps.StepRunner`), the metrics reduced across
        processes, validation and the epoch callbacks; returns the last epoch's logs."""
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            steps_run = 0
            for step, (bx, by, bsw) in enumerate(train.epoch()):
                callback_list.on_train_batch_begin(step)
                logs = run(*self._to_device(bx, by, bsw, device))
                steps_run = step + 1
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            if steps_run == 0 and epoch == initial_epoch and not self.stop_training:
                raise checks.no_batch("x", "fit")
            if _ran_out(steps_run, train.steps) and not self.stop_training:
                of = "" if train.steps is None else f" of {train.steps}"
                warnings.warn(f"Your input ran out of data after {steps_run}{of} steps in epoch {epoch + 1}; "
                              "interrupting training. Make sure that your generator can produce at least "
                              "steps_per_epoch * epochs batches.", stacklevel=4)
                self.stop_training = True
                if steps_run == 0:
                    break
            strategy.reduce_metrics(self)
            epoch_logs = run.logs()
            if val is not None and _should_eval(epoch, validation_freq):
                val_logs = self._run_evaluation(val, device, callback_list, strategy)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        return epoch_logs

    def _class_weight_to_sample_weight(self, y, class_weight, sample_weight):
        if y is None:
            raise ValueError("class_weight needs labels: pass y (arrays), or yield (x, y, sample_weight) from the "
                             "iterator with the weights you want.")
        if isinstance(y, (list, tuple)) and len(self._output_names()) > 1:
            raise ValueError("class_weight is only supported for models with a single output; pass sample_weight "
                             "instead.")
        weights = data_adapter.class_weights_to_sample_weights(y, class_weight)
        if sample_weight is None:
            return weights
        # both given: tf.keras multiplies them (Keras 3 refuses the combination)
        sample_weight = data_adapter.as_array(sample_weight, "sample_weight")
        if len(sample_weight) != len(weights):
            raise ValueError(f"sample_weight has {len(sample_weight)} entries but y has {len(weights)} samples.")
        return sample_weight * weights.reshape((-1,) + (1,) * (sample_weight.ndim - 1))

    def _validation_adapter(self, validation_data, batch_size, steps):
        if validation_data is None:
            return None
        if isinstance(validation_data, list):
            validation_data = tuple(validation_data)  # Keras reads a list [x, y] as (x, y)
        if isinstance(validation_data, tuple):
            if len(validation_data) not in (2, 3):
                raise ValueError(f"validation_data must be (x, y) or (x, y, sample_weight), or a data iterator. "
                                 f"Received a tuple of {len(validation_data)}.")
            vx, vy, vsw = data_adapter.unpack(validation_data)
            return data_adapter.make(self._conform(vx), self._labels(vy), vsw, batch_size, False, steps,
                                     what="validation_data", steps_name="validation_steps")
        return data_adapter.make(validation_data, None, None, batch_size, False, steps, what="validation_data",
                                 steps_name="validation_steps")

    def _prepare_device(self):
        device = config.get_device()
        if self._device() != device:
            self.to(device)
        if device.type == "cpu":
            config.reuse_large_allocations()
        return device
