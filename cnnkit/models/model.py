"""`Model`: a Layer made of layers, with Keras's training API. This class is the subclassed model (override
`call`); `Model(inputs, outputs)` returns a `cnnkit.models.functional.Functional`, as in Keras 3, and `Sequential`
is one of those.

A model can be used as a layer of another model (a frozen backbone inside a Sequential), sharing its weights.
"""

import inspect
import json

import torch

from cnnkit import mixed_precision
from cnnkit.layers.base import Layer
from cnnkit.layers.base import call_takes_training
from cnnkit.layers.base import call_training_default
from cnnkit.layers.node import flatten
from cnnkit.ops import layout
from cnnkit.registry import did_you_mean
from cnnkit.training.trainer import Trainer


def functional_arguments(args, kwargs):
    """Whether a Model(...) call gives a graph: inputs and outputs, by position or keyword (Keras's test)."""
    return (len(args) == 2 or (len(args) == 1 and "outputs" in kwargs)
            or ("inputs" in kwargs and "outputs" in kwargs))


class Model(Trainer, Layer):
    """A model: `Model(inputs, outputs)` from `Input` and layer calls, or a subclass that defines `call`.

    Args:
        inputs: a SymbolicTensor from `Input` (or any layer's output), or a list of them.
        outputs: a SymbolicTensor from layer calls, or a list of them (the model then returns a list).
        name: default 'functional', 'functional_1', ...
        trainable: False freezes every layer.

    Example:
        >>> inputs = Input(shape=(32, 32, 3))
        >>> x = Conv2D(32, 3, activation='relu')(inputs)
        >>> outputs = Dense(10, activation='softmax')(Flatten()(x))
        >>> model = Model(inputs, outputs)          # a Functional
        >>> model.predict(np.zeros((2, 32, 32, 3))).shape
        (2, 10)

    Note:
        A subclass that overrides `call(inputs, training=False)` receives and returns Keras-layout tensors, and
        calls its layers the Keras way (`self.dense(x)`). A subclass whose `__init__` passes inputs and outputs
        to `super().__init__` is functional (Keras 3's "subclassed functional" model).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and functional_arguments(args, kwargs):
            from cnnkit.models.functional import Functional  # noqa: PLC0415 (functional.py subclasses Model)

            cls = Functional
        instance = super().__new__(cls)
        instance.__dict__["_init_arguments"] = _json_safe_arguments(cls, args, kwargs)
        return instance

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if functional_arguments(args, kwargs):
            # A subclass of Model whose __init__ passes a graph to super().__init__: it becomes a Functional too,
            # as Keras 3 does it (`inject_functional_model_class`).
            from cnnkit.models.functional import Functional  # noqa: PLC0415

            self.__class__ = _functional_subclass(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        if args:
            raise TypeError(f"Model: a subclassed model takes no positional arguments; Model(inputs, outputs) "
                            f"makes a functional one. Received {len(args)} positional argument(s).")
        for key in ("inputs", "outputs"):
            if key in kwargs:
                raise ValueError("Model: give both inputs and outputs (functional model), or neither (subclassed "
                                 f"model). Received only {key}.")
        super().__init__(name=name, trainable=trainable, **kwargs)

    # ---- structure -----------------------------------------------------------------------------------------

    @property
    def layers(self):
        """The model's layers: for a subclassed model, the layers it holds as attributes, in assignment order."""
        return [m for m in self.children() if isinstance(m, Layer)]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in `layers`."""
        layers = self.layers
        if index is not None:
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index must be an int in [0, {len(layers)}). Received: index={index!r}")
            return layers[index]
        names = [layer.name for layer in layers]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: '{name}'.{did_you_mean(name, names)} Existing layers are: {names}.")

    def _no_graph(self, what):
        return ValueError(
            f"Model '{self.name}' has not yet been built, so it has no {what}. Build it first: give the first layer an "
            "input_shape, start with an Input, call model.build(input_shape), or call it on data."
            if self.has_graph else
            f"Model '{self.name}' is a subclassed model ({type(self).__name__}): it has no layer graph, so no {what}. "
            "Build it from Input and layer calls, Model(inputs, outputs), to get one.")

    has_graph = False  # True for Functional (and Sequential) models: see cnnkit.models.functional

    @property
    def inputs(self):
        raise self._no_graph("inputs")

    @property
    def outputs(self):
        raise self._no_graph("outputs")

    @property
    def input(self):
        raise self._no_graph("input")

    @property
    def output(self):
        raise self._no_graph("output")

    @property
    def input_shape(self):
        inp = self.input
        return [t.shape for t in inp] if isinstance(inp, list) else inp.shape

    @property
    def output_shape(self):
        out = self.output
        return [t.shape for t in out] if isinstance(out, list) else out.shape

    @property
    def input_names(self):
        """Names of the Input layers, in input order (None for a subclassed model)."""
        return None

    @property
    def output_names(self):
        """Names of the layers producing the outputs, in output order (None for a subclassed model)."""
        return None

    def conform_inputs(self, items):
        """The list of inputs `items` checked against the model's inputs (subclassed models take any input)."""
        return items

    # ---- weights -------------------------------------------------------------------------------------------

    def _collect(self, getter):
        seen, out = set(), []
        for layer in self.layers:
            for weight in getter(layer):
                if id(weight) not in seen:
                    seen.add(id(weight))
                    out.append(weight)
        return out

    @property
    def weights(self):
        return self._collect(lambda layer: layer.weights)

    @property
    def trainable_weights(self):
        return self._collect(lambda layer: layer.trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._collect(lambda layer: layer.non_trainable_weights)

    @property
    def losses(self):
        return [loss for layer in self.layers for loss in layer.losses]

    def get_weights(self):
        """All weights as numpy arrays in Keras layout, layer by layer (Keras's order)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}' expects {expected} weight arrays (the length of get_weights()); "
                             f"set_weights received {len(weights)}.")
        start = 0
        for layer in self.layers:
            count = len(layer.get_weights())
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        if not self.built:
            raise self._no_graph("parameters")
        return int(sum(w.numel() for w in self.weights))

    # ---- calling -------------------------------------------------------------------------------------------

    def build(self, input_shape=None):
        """Builds a subclassed model's layers by calling it once on zeros of the Keras-layout `input_shape` (a
        shape or a list of them; batch 1 where None), as Keras builds it on symbolic inputs. Without it, the first
        call on data builds them."""
        if input_shape is None:
            raise ValueError(f"Model '{self.name}': build needs an input shape, e.g. build((None, 28, 28, 1)).")
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        zeros = [torch.zeros([1 if d is None else int(d) for d in shape], dtype=self._torch_dtype) for shape in shapes]
        with torch.no_grad():
            self._call_with_training(zeros if isinstance(input_shape, list) else zeros[0], False)

    def _maybe_build(self, input_shape):
        self.built = True  # the call that follows builds the layers (no extra pass on zeros)

    def forward(self, inputs, training=False):
        """Internal layout in and out; a subclassed model's `call` sees Keras-layout tensors (its `call_layout` is
        "keras", Layer's default), and so do the user's layers it calls."""
        if training is None:  # unset: the subclass's own default, as Keras
            training = call_training_default(type(self))
        items, was_list = flatten(inputs)
        keras_in = [layout.to_keras(t) for t in items]
        keras_in = keras_in if was_list else keras_in[0]
        if mixed_precision.in_use():  # the model's own ops under its policy, inputs cast as Keras's autocasting
            out = mixed_precision.call_with_policy(self, keras_in, training, call=self._call_with_training,
                                                   cast_inputs=True)
        else:
            out = self._call_with_training(keras_in, training)
        out_items, out_list = flatten(out)
        internal = [layout.to_internal(t) for t in out_items]
        return internal if out_list else internal[0]

    def _call_with_training(self, inputs, training):
        """`call`, given `training` only when it takes it (Keras's `def call(self, x)`)."""
        if call_takes_training(type(self)):
            return self.call(inputs, training=training)
        return self.call(inputs)

    # ---- files and reports ---------------------------------------------------------------------------------

    def save_weights(self, filepath, overwrite=True):
        """Writes the weights: '.weights.h5' (Keras 3 layout) or '.h5'/'.hdf5' (tf.keras layout); atomic."""
        from cnnkit.models import saving  # noqa: PLC0415 (saving reads models of every kind)

        saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False):
        """Reads weights written by cnnkit or Keras ('.weights.h5', '.h5'/'.hdf5', or a '.keras' archive)."""
        from cnnkit.models import saving  # noqa: PLC0415

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Saves architecture, weights and optimizer state: '.keras' (zip) or '.h5'/'.hdf5'; atomic."""
        from cnnkit.models import saving  # noqa: PLC0415

        saving.save_model(self, filepath, overwrite, include_optimizer)

    def to_json(self, **kwargs):
        """The architecture (and compile config) as JSON in Keras 3's form; `json.dumps` options in `kwargs`
        (e.g. indent=2). `cnnkit.models.model_from_json` (or Keras's) rebuilds the model with new weights."""
        from cnnkit.models.cloning import model_to_json  # noqa: PLC0415 (cloning imports the model classes)

        return model_to_json(self, **kwargs)

    def export(self, filepath, format="", verbose=True, input_signature=None, **kwargs):
        """Writes the inference pass as ONNX (`pip install "cnnkit[onnx]"`), atomically: inputs (batch, h, w, c)
        float32 with a dynamic batch, named after the Input layers; outputs as `predict`'s, named after their
        layers. `input_signature=[(None, 224, 224, 3)]` sets unknown image sizes; `opset_version=` the opset;
        `metadata={'class_names': [...]}` adds entries to the file's metadata_props (non-str values as JSON).

        Example: `model.export('model.onnx')` prints "Saved artifact at 'model.onnx'."

        Note: Keras's default format is 'tf_saved_model'; cnnkit writes only 'onnx' (also for format='').
        """
        from cnnkit.models.export import export_model  # noqa: PLC0415 (onnx is optional)

        export_model(self, filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Prints the Keras-style table: layers, output shapes, parameter counts, totals."""
        from cnnkit.models.summary import print_summary  # noqa: PLC0415

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)

    def _repr_html_(self):
        """A notebook shows a built model as its summary table."""
        if not self.built:
            return None
        from cnnkit.models.summary import summary_html  # noqa: PLC0415

        return summary_html(self)

    def get_config(self):
        """Keras 3's config of a subclassed model: its constructor's arguments (when they are JSON values), with
        name, trainable and dtype; `from_config` calls the constructor with them."""
        config = Layer.get_config(self)
        config.update(self.__dict__.get("_init_arguments") or {})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        accepted = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            config = {k: v for k, v in config.items() if k in accepted}
        return cls(**config)


_FUNCTIONAL_SUBCLASSES = {}


def _functional_subclass(cls):
    """`cls` (a Model subclass) with Functional among its bases, made once per class."""
    from cnnkit.models.functional import Functional  # noqa: PLC0415

    if issubclass(cls, Functional):
        return cls
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, Functional),
                                           {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _FUNCTIONAL_SUBCLASSES[cls]


def _json_safe_arguments(cls, args, kwargs):
    """The constructor's arguments by name, when every one is a JSON value (Keras keeps them as the config of a
    subclassed model), else None."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return None
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(arguments)), None)  # self
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.kind is param.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
        elif param.kind is param.VAR_POSITIONAL:
            arguments.pop(name, None)
    try:
        json.dumps(arguments)
    except (TypeError, ValueError):
        return None
    return arguments
