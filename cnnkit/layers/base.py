"""`Layer`: a torch.nn.Module with Keras's build / call / compute_output_shape / get_config.

Two ways in:
- `layer(x)` is Keras's call: x in Keras layout (channels_last), numpy or torch; returns a torch tensor in Keras
  layout. On a `SymbolicTensor` (from `Input`) it records a graph node instead of computing.
- `forward(x)` (what torch.nn.Module.__call__ and models use) takes and returns tensors in cnnkit's internal
  layout (channels first, see `cnnkit.ops.layout`), so a model converts layouts once, at its edges.

Subclasses implement `build(input_shape)` (the only place weights are created, with `add_weight`),
`call(inputs, training=False)`, `compute_output_shape(input_shape)` on Keras-layout shapes, and `get_config()`.
The class attribute `call_layout` declares what `call` sees: "keras" (the default, so a user's layer gets and
returns (N, *spatial, C) tensors as in Keras; `forward` converts around it with views) or "internal" (declared by
cnnkit's own layers, which compute on (N, C, *spatial)).
"""

import contextlib
import functools
import inspect

import numpy as np
import torch

from cnnkit import config
from cnnkit import initializers
from cnnkit import mixed_precision
from cnnkit import regularizers
from cnnkit.layers import node as node_module
from cnnkit.layers import weight_budget
from cnnkit.layers.weight import Weight
from cnnkit.ops import layout
from cnnkit.registry import Registry
from cnnkit.registry import check_kwargs
from cnnkit.registry import init_parameter_names
from cnnkit.utils.naming import to_snake_case
from cnnkit.utils.naming import unique_name

LAYERS = Registry("layer")

_BASE_KWARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")
CALL_LAYOUTS = ("keras", "internal")


class WeightSpec:
    """Where a weight lives (attribute `attr` of the layer), its Keras name, layout and trainability."""

    def __init__(self, attr, keras_shape, kind, trainable):
        self.attr, self.keras_shape, self.kind, self.trainable = attr, tuple(keras_shape), kind, trainable


def register(cls=None, aliases=()):
    """Class decorator: makes a layer class known to `deserialize` (and so to model loading)."""
    if cls is None:
        return lambda c: register(c, aliases)
    LAYERS.register(cls.__name__, cls, aliases)
    return cls


class Layer(torch.nn.Module):
    """Base class of all cnnkit layers.

    Args:
        name: unique name; default: the snake_case class name made unique ('conv2d', 'conv2d_1', ...).
        dtype: a dtype policy or its name: 'float32', 'mixed_float16', 'mixed_bfloat16', ... (default: the global
            policy, see `cnnkit.mixed_precision`); also Keras 3's config dict of a policy.
        trainable: whether the weights are updated by training (False also puts BatchNormalization in
            inference mode).
        input_shape: shape without the batch axis, for the first layer of a Sequential model.
        batch_size: batch size to go with input_shape (optional).

    Note:
        Unlike torch.nn.Module, `layer(x)` takes Keras-layout (channels_last) data and the `training` flag is
        an argument (default False: inference), not the module's train()/eval() mode. A subclass's `call` gets
        Keras-layout tensors (see `call_layout`), as in Keras.

    Example:
        >>> class ChannelMean(Layer):
        ...     def call(self, x):
        ...         return ops.mean(x, axis=-1, keepdims=True)  # the channels, as in Keras
        >>> ChannelMean()(np.ones((2, 5, 6, 3))).shape
        torch.Size([2, 5, 6, 1])
    """

    # Declared properties (read by the frozen-feature cache and the fusion pass, `cnnkit.models.fusion`; never
    # inferred from class names).
    # stochastic: the output in training depends on random draws (Dropout, noise, random augmentation), so it must
    # be recomputed every time and is never cached.
    stochastic = False
    # input_losses: `losses` depend on the inputs of the latest call (ActivityRegularization), so the call must run
    # every time its losses count; it is never cached.
    input_losses = False
    # updates_in_training: a training call changes the layer's state (BatchNormalization's moving statistics while
    # trainable); such a call is never cached.
    updates_in_training = False
    # runs_user_code: the computation is the user's code (Lambda), which cnnkit cannot tell is deterministic.
    runs_user_code = False
    # resamples: the layer only pools, pads, crops, repeats, resizes or masks its input's maps, so Grad-CAM's default
    # layer is the one before it.
    resamples = False
    # monotonic: the layer is an elementwise non-decreasing function (f(max(a, b)) == max(f(a), f(b))), so a max
    # pooling may run before it. Activation layers declare it (a property where it depends on their arguments).
    monotonic = False
    # commutes_with_monotonic: layer(f(x)) == f(layer(x)) for every non-decreasing element-wise f (max pooling).
    commutes_with_monotonic = False
    # folds_into_linear: `is_channel_affine` may hold for this layer (BatchNormalization over the channels).
    folds_into_linear = False
    # absorbs_channel_affine: `fold_channel_affine` is implemented (convolutions).
    absorbs_channel_affine = False
    # takes_dict: `layer({"images": ..., "labels": ...})` is accepted (MixUp, CutMix); other layers refuse dicts.
    takes_dict = False
    # is_operation: a graph node that is not a layer (Keras 3's symbolic arithmetic, `cnnkit.layers.operations`).
    is_operation = False
    # call_layout: the layout of the rank >= 3 tensors `call` receives and returns. "keras" (the default: a user's
    # layer): channels_last (N, *spatial, C), as in Keras; `forward` converts around the call (views, no copies).
    # "internal": cnnkit's channels-first (N, C, *spatial); cnnkit's own layers declare it (their family base
    # classes, an explicit attribute on the others). A subclass of one of cnnkit's layers inherits its layout.
    call_layout = "keras"

    def __init__(self, name=None, dtype=None, trainable=True, **kwargs):
        super().__init__()
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        check_kwargs(type(self).__name__, kwargs, self._accepted_kwargs())
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
            self._batch_input_shape = (batch_size, *shape)
        else:
            self._batch_input_shape = None
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{type(self).__name__}: name must be a string. Received: name={name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype_policy = mixed_precision.get(dtype)
        self.dtype_name = self._dtype_policy.variable_dtype
        self._torch_dtype = config.torch_dtype(self.dtype_name)
        self._trainable = bool(trainable)
        self.built = False
        self._inbound_nodes = []
        self._weight_specs = []
        self._regularized = []

    def __init_subclass__(cls, **kwargs):
        """Every `build` marks the layer built once it returns, also when called directly (as Keras does)."""
        super().__init_subclass__(**kwargs)
        if cls.call_layout not in CALL_LAYOUTS:
            raise ValueError(f"{cls.__name__}: call_layout must be one of {CALL_LAYOUTS}. "
                             f"Received: call_layout={cls.call_layout!r}")
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            @functools.wraps(build)
            def marked(self, *args, **kw):
                out = build(self, *args, **kw)
                self.built = True
                return out

            marked._marks_built = True
            cls.build = marked

    def _owner(self):
        """How errors about this layer name it: "Layer 'name' (Class)"."""
        return f"Layer '{self.name}' ({type(self).__name__})"

    @classmethod
    def _accepted_kwargs(cls):
        cached = cls.__dict__.get("_accepted_kwargs_cache")  # per class: inspect.signature is slow for big models
        if cached is None:
            cached = tuple(sorted(init_parameter_names(cls) | set(_BASE_KWARGS)))
            cls._accepted_kwargs_cache = cached
        return list(cached)

    @property
    def dtype_policy(self):
        """The layer's `DTypePolicy` (see `cnnkit.mixed_precision`)."""
        return self._dtype_policy

    @property
    def dtype(self):
        """The dtype of the layer's weights (Keras's `layer.dtype`: the policy's variable dtype)."""
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self):
        return self._dtype_policy.compute_dtype

    @property
    def variable_dtype(self):
        return self._dtype_policy.variable_dtype

    def _has_sublayers(self):
        if "_sublayers_known" not in self.__dict__:
            self.__dict__["_sublayers_known"] = any(isinstance(m, Layer) for m in self.children())
        return self.__dict__["_sublayers_known"]

    # ---- weights -------------------------------------------------------------------------------------------

    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None, trainable=True, kind=None,
                   dtype=None):
        """Creates a weight of Keras-layout `shape`, stored in torch layout as attribute `name`.

        Args:
            name: attribute and Keras weight name ('kernel', 'bias', 'gamma', 'moving_mean', ...).
            shape: Keras-layout shape (a conv kernel is (*kernel_size, in, out)).
            initializer: name, instance or callable (called with the Keras shape).
            regularizer: name, instance or callable; its penalty joins `layer.losses`.
            trainable: False makes a buffer, never updated by optimizers (moving statistics).
            kind: a key of `cnnkit.ops.layout.WEIGHT_LAYOUTS` (None, 'conv', 'dense', 'sample', 'conv_transpose',
                'depthwise'): how the Keras layout maps onto torch's.
            dtype: the weight's dtype name ('int64' for a counter, non-trainable only); default: the layer's
                variable dtype.

        Returns:
            The `Weight` (a torch.nn.Parameter; trainable) or buffer tensor.
        """
        dtype = self._torch_dtype if dtype is None else config.torch_dtype(dtype)
        weight_budget.spend(self, name, shape, max(dtype.itemsize, self._torch_dtype.itemsize))
        init = initializers.get(initializer) or initializers.Zeros()
        value = initializers.to_tensor(init, shape, self._torch_dtype)
        value = torch.as_tensor(layout.WEIGHT_LAYOUTS[kind][0](value.numpy()), dtype=dtype)
        if trainable:
            tensor = Weight(value, requires_grad=self._trainable)
            self.register_parameter(name, tensor)
        else:
            self.register_buffer(name, value)
            tensor = value
        self._weight_specs.append(WeightSpec(name, shape, kind, trainable))
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((name, reg))
        return tensor

    def _own_weights(self, which="all"):
        if which == "trainable" and not self.trainable:
            return []
        out = []
        for spec in self._weight_specs:
            trainable = spec.trainable and self.trainable
            if which == "all" or (which == "trainable") == trainable:
                out.append(getattr(self, spec.attr))
        return out

    @property
    def weights(self):
        """All weights (torch tensors in torch layout), trainable first-declared order as in Keras."""
        return self._own_weights()

    @property
    def trainable_weights(self):
        return self._own_weights("trainable")

    @property
    def non_trainable_weights(self):
        return self._own_weights("non_trainable")

    @property
    def losses(self):
        """Regularization penalties of this layer's weights (scalar tensors), recomputed on each access."""
        return [reg(getattr(self, attr)) for attr, reg in self._regularized]

    def get_weights(self):
        """Weights as numpy arrays in Keras layout (Conv2D kernel (kh, kw, in, out), Dense kernel (in, out)).

        The arrays are copies, as in Keras: later training or `set_weights` does not change them.
        """
        return [self._weight_value(spec) for spec in self._weight_specs]

    def set_weights(self, weights):
        """Sets weights from numpy arrays in Keras layout (the order of `get_weights`)."""
        weights = list(weights)
        if len(weights) != len(self._weight_specs):
            names = [s.attr for s in self._weight_specs]
            raise ValueError(
                f"{self._owner()} expects {len(names)} weights {names}, "
                f"but set_weights received {len(weights)} arrays."
            )
        for spec, value in zip(self._weight_specs, weights):
            value = np.asarray(value)
            if tuple(value.shape) != spec.keras_shape:
                raise ValueError(
                    f"{self._owner()}: weight '{spec.attr}' has shape {spec.keras_shape}"
                    f" (Keras layout), received an array of shape {tuple(value.shape)}."
                )
            self._assign_weight(spec, value)

    def _weight_value(self, spec):
        """The weight described by `spec` as a numpy copy in Keras layout."""
        return layout.WEIGHT_LAYOUTS[spec.kind][1](getattr(self, spec.attr).detach().cpu().numpy().copy())

    def _assign_weight(self, spec, value):
        """Copies a Keras-layout array (shape already checked) into the weight described by `spec`."""
        target = getattr(self, spec.attr)
        with torch.no_grad():
            target.copy_(torch.as_tensor(layout.WEIGHT_LAYOUTS[spec.kind][0](np.asarray(value)), dtype=target.dtype))

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call count_params on layer '{self.name}', but the layer isn't built. Call it on "
                "data or give the model an input shape first."
            )
        return int(sum(w.numel() for w in self.weights))

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezes (False) or unfreezes this layer and every layer inside it."""
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = bool(value)
                for spec in module._weight_specs:
                    if spec.trainable:
                        getattr(module, spec.attr).requires_grad_(bool(value))

    # ---- calling -------------------------------------------------------------------------------------------

    def build(self, input_shape):
        """Creates the weights for a Keras-layout `input_shape`; called once, before the first call."""

    def compute_output_shape(self, input_shape):
        """Keras-layout output shape for a Keras-layout input shape (default: unchanged)."""
        return input_shape

    def call(self, inputs, training=False):
        """The computation, on tensors in the layout declared by `call_layout` (Keras's, unless the class says
        "internal"). Default: identity."""
        return inputs

    def _call_in_keras_layout(self, inputs, training=False):
        """`call` of a layer whose `call_layout` is "keras", on internal-layout tensors: the inputs (a tensor, or
        lists / tuples / dicts of them) are turned into Keras-layout views, the outputs back (views, no copies).
        `training` is passed only when `call` takes it (Keras's `def call(self, x)`)."""
        keras_inputs = map_tensors(layout.to_keras, inputs)
        if call_takes_training(type(self)):
            out = self.call(keras_inputs, training=training)
        else:
            out = self.call(keras_inputs)
        return map_tensors(layout.to_internal, out)

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True

    def forward(self, inputs, training=False):
        if training is None:  # unset (a direct call, or a model called without it): the call's own default, as Keras
            training = call_training_default(type(self))
        if not self.built:
            self._maybe_build(_structure_shapes(inputs, internal=True))
        call = self.call if self.call_layout == "internal" else self._call_in_keras_layout
        if mixed_precision.in_use():  # a policy other than float32 exists: run under this layer's policy
            return mixed_precision.call_with_policy(self, inputs, training, call=call,
                                                    cast_inputs=self.call_layout == "keras")
        return call(inputs, training=training)

    def __call__(self, inputs, training=None, **kwargs):
        check_kwargs(f"{self.name} ({type(self).__name__}).__call__", kwargs, ("mask",))
        if isinstance(inputs, dict):
            if not self.takes_dict:
                raise TypeError(f"{self._owner()} takes arrays or tensors, not a dict (only layers such as MixUp and "
                                f"CutMix take {{'images': ..., 'labels': ...}}). Received keys: {list(inputs)}")
            return self._call_on_dict(inputs, training)
        if node_module.is_symbolic(inputs):
            return self._symbolic_call(inputs, training)
        items, was_list = node_module.flatten(inputs)
        config.reuse_large_allocations()  # the same large tensors every call: keep them mapped (see config)
        from_numpy = not any(isinstance(t, torch.Tensor) for t in items)
        tensors = [self._to_tensor(t) for t in items]
        self._maybe_build(_keras_shapes(tensors, was_list))
        internal = [layout.to_internal(t) for t in tensors]
        with torch.no_grad() if from_numpy else contextlib.nullcontext():
            out = torch.nn.Module.__call__(self, internal if was_list else internal[0], training=training)
        if isinstance(out, (list, tuple)):
            return [layout.to_keras(o) for o in out]
        return layout.to_keras(out)

    def _call_on_dict(self, inputs, training):
        """A dict of arrays or tensors (MixUp and CutMix's {"images": ..., "labels": ...}): each value converted as
        a single input is, `call` given the dict, each value of the dict it returns converted back."""
        if any(node_module.is_symbolic(v) for v in inputs.values()):
            raise ValueError(f"{self._owner()}: a dict of symbolic tensors is not supported; call the layer on "
                             "data, or on one symbolic tensor.")
        from_numpy = not any(isinstance(v, torch.Tensor) for v in inputs.values())
        tensors = {key: self._to_tensor(value) for key, value in inputs.items()}
        self._maybe_build({key: tuple(t.shape) for key, t in tensors.items()})
        internal = {key: layout.to_internal(t) for key, t in tensors.items()}
        with torch.no_grad() if from_numpy else contextlib.nullcontext():
            out = torch.nn.Module.__call__(self, internal, training=training)
        if isinstance(out, dict):
            return {key: layout.to_keras(value) for key, value in out.items()}
        return layout.to_keras(out)

    def _to_tensor(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(device=self._device(), dtype=self._torch_dtype)
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"Layer '{self.name}' cannot take {type(value).__name__} input; expected an array.")
        return torch.as_tensor(array, dtype=self._torch_dtype, device=self._device())

    def _device(self):
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def _symbolic_call(self, inputs, training=None):
        items, was_list = node_module.flatten(inputs)
        shapes = [t.shape for t in items] if was_list else items[0].shape
        self._maybe_build(shapes)
        out_shapes = self.compute_output_shape(shapes)
        out_is_list = isinstance(out_shapes, list)
        out_list = out_shapes if out_is_list else [out_shapes]
        outputs = [node_module.SymbolicTensor(s, self.compute_dtype, name=f"{self.name}_{i}" if out_is_list else
                                              self.name) for i, s in enumerate(out_list)]
        kwargs = {} if training is None else {"training": training}
        node_module.Node(self, items, outputs, was_list, out_is_list, kwargs)
        return outputs if out_is_list else outputs[0]

    # ---- declarations for the fusion pass (cnnkit.models.fusion) -----------------------------------------

    def activation_split(self):
        """(linear, activation) when the layer computes `activation(linear(x))` on one internal-layout tensor
        (convolutions), else None."""
        return None

    def bias_split(self):
        """(linear, bias) when the linear part of `activation_split` is `linear(x)` plus `bias` (C,) added per
        channel (internal axis 1), so that a pooling commuting with monotonic functions may run before the bias
        is added (on the smaller pooled tensor); None when the layer has no such bias."""
        return None

    @property
    def elementwise_activation(self):
        """The function when the layer is an element-wise activation `f(x)` (internal layout), else None."""
        return None

    def is_channel_affine(self, training):
        """Whether this call (with `training`) is `x * scale + shift` per channel, internal axis 1 (BatchNormalization
        in inference mode); then `channel_affine()` gives (scale, shift)."""
        return False

    def channel_affine(self):
        """(scale, shift) per channel of a layer whose call is `is_channel_affine`."""
        raise NotImplementedError(f"{type(self).__name__} is not a per-channel affine map.")

    def fold_channel_affine(self, scale, shift):
        """A function computing the linear part of `activation_split` followed by `x * scale + shift` per output
        channel, with the affine map folded into the weights (layers whose `activation_split` is not None)."""
        raise NotImplementedError(f"{type(self).__name__} cannot fold a channel affine map into its weights.")

    # ---- graph connectivity (Keras's layer.input / layer.output) -------------------------------------------

    @property
    def inbound_nodes(self):
        """The recorded symbolic calls of this layer (`cnnkit.layers.node.Node`), oldest first."""
        return list(self._inbound_nodes)

    def _single_node(self, attr):
        """The first call's node (Keras 3: a layer called several times answers `input`/`output` for its first
        call; `get_input_at` / `get_output_at` reach the others)."""
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined {attr}.")
        return self._inbound_nodes[0]

    @property
    def input(self):
        node = self._single_node("input")
        return node.inputs if node.input_is_list else node.inputs[0]

    @property
    def output(self):
        node = self._single_node("output")
        return node.outputs if node.output_is_list else node.outputs[0]

    def get_output_at(self, node_index):
        node = self._inbound_nodes[node_index]
        return node.outputs if node.output_is_list else node.outputs[0]

    def get_input_at(self, node_index):
        node = self._inbound_nodes[node_index]
        return node.inputs if node.input_is_list else node.inputs[0]

    @property
    def input_shape(self):
        inp = self.input
        return [t.shape for t in inp] if isinstance(inp, list) else inp.shape

    @property
    def output_shape(self):
        out = self.output
        return [t.shape for t in out] if isinstance(out, list) else out.shape

    # ---- config --------------------------------------------------------------------------------------------

    def get_config(self):
        """JSON-safe constructor arguments; `type(layer).from_config(layer.get_config())` rebuilds the layer."""
        return {"name": self.name, "trainable": self.trainable,
                "dtype": mixed_precision.serialize(self.dtype_policy)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def extra_repr(self):
        return f"name={self.name!r}"


def _keras_shapes(tensors, was_list):
    shapes = [tuple(t.shape) for t in tensors]
    return shapes if was_list else shapes[0]


def _structure_shapes(inputs, internal):
    items, was_list = node_module.flatten(inputs)
    shapes = [layout.shape_to_keras(t.shape) if internal else tuple(t.shape) for t in items]
    return shapes if was_list else shapes[0]


def check_rank(layer, input_shape, rank, exact=True):
    """Raises a Keras-style ValueError when `input_shape` does not have `rank` dimensions."""
    ndim = len(input_shape)
    if (exact and ndim != rank) or (not exact and ndim < rank):
        kind = "ndim" if exact else "min_ndim"
        raise ValueError(
            f"Input 0 of layer '{layer.name}' ({type(layer).__name__}) is incompatible with the layer: expected "
            f"{kind}={rank}, found ndim={ndim}. Full shape received: {tuple(input_shape)}"
        )


@functools.lru_cache(maxsize=None)
def call_training_default(cls):
    """The default of `training` in `cls.call` (None when it has none): what an unset `training` means for that
    layer, as in Keras 3 (False for most layers, True for the image augmentation layers, None for models, whose
    layers then use their own)."""
    parameter = inspect.signature(cls.call).parameters.get("training")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def map_tensors(fn, structure):
    """`fn` applied to every torch tensor of `structure` (a tensor, or nested lists / tuples / dicts of them);
    other values are kept."""
    if isinstance(structure, torch.Tensor):
        return fn(structure)
    if isinstance(structure, dict):
        return {key: map_tensors(fn, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        values = [map_tensors(fn, value) for value in structure]
        return type(structure)(*values) if hasattr(structure, "_fields") else type(structure)(values)
    return structure


@functools.lru_cache(maxsize=None)
def call_takes_training(cls):
    """Whether `cls.call` accepts a `training` argument (by name, or through **kwargs)."""
    parameters = inspect.signature(cls.call).parameters
    return "training" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
