"""`fit(..., cache_frozen=True)`: run a model's frozen part once per sample and train only the rest.

The split is made on the model's layer calls (`model.nodes`), so it works for Sequential and functional models
alike: a layer call is *cached* when its layer is frozen and deterministic in training (no trainable
weight, no trainable BatchNormalization, no Dropout, only cnnkit's own layer classes) and all its inputs are model
inputs or outputs of cached calls. The *cut* tensors are the cached calls' outputs (and model inputs) that the rest
of the model reads. A frozen ResNet50 backbone followed by GlobalAveragePooling2D in a Sequential is cut after the
pooling (weightless layers count as frozen): 2048 floats per sample.

Features are computed lazily, by sample index, while epoch 1 trains: each batch's missing samples go through the
frozen part (in inference mode, without autograd) on the model's device, are stored on the host in Keras layout,
and the rest of the model trains on them. Later epochs gather the stored features (and, for iterators, labels and
sample weights) in the order the data would have given, so the sample order, shuffling, callbacks, metrics and
History are those of the same fit without the cache, and the weights equal within float rounding (only the frozen
part's batch composition differs).

Cacheable data: arrays (the adapter shuffles by sample index) and cnnkit's index-based image iterators
(`ImageDataGenerator.flow`, `flow_from_directory`, `flow_from_dataframe`, `image_dataset_from_directory`) that
apply no random transforms. Validation data is cached the same way when it can be, else its batches go through the
frozen part each time.
"""

import torch

from cnnkit.data.iterators import Iterator
from cnnkit.data.pipeline import Dataset
from cnnkit.layers.base import Layer
from cnnkit.layers.node import flatten
from cnnkit.ops import layout
from cnnkit.training import data_adapter
from cnnkit.training import distributed


def _not_frozen(layer, inference=False):
    """Why a layer call cannot be cached (None when it can), from what the layers declare: trainable weights,
    randomness, losses from its input, state updated in training (BatchNormalization), or custom code. A call made
    with `training=False` (`backbone(x, training=False)`, `inference`) runs in inference mode even inside `fit`, so
    its random layers and training-time state updates do not count."""
    if any(p.requires_grad for p in layer.parameters()):
        return "has trainable weights (set trainable = False to freeze it)"
    forced = _called_in_training(layer)
    for module in layer.modules():
        if not isinstance(module, Layer):
            continue
        kind = type(module).__name__
        training_mode = not inference or id(module) in forced
        if module.stochastic and training_mode:
            return f"is random in training ({kind} '{module.name}')"
        if module.input_losses:
            return f"adds a loss computed from its input ({kind} '{module.name}')"
        if module.updates_in_training and training_mode:
            return f"updates its state in training ({kind} '{module.name}' is trainable)"
        if module.runs_user_code or not type(module).__module__.startswith("cnnkit."):
            return f"runs custom code ({kind} '{module.name}') that cnnkit cannot tell is deterministic"
    return None


def _called_in_training(layer):
    """Ids of the modules inside `layer` that a nested model calls with `training=True` (and everything inside
    them): they run in training mode even when `layer` is called with training=False."""
    from cnnkit.models.functional import Functional  # noqa: PLC0415 (models import this package)

    forced = set()
    for model in layer.modules():
        if isinstance(model, Functional):
            for node in model.nodes:
                if node.call_kwargs.get("training") is True:
                    forced.update(id(m) for m in node.layer.modules())
    return forced


def partition(model):
    """(frozen layer calls, the other calls, why the first other call is not frozen, ids of the tensors the frozen
    calls and the inputs produce) of a built Sequential or functional model, in execution order."""
    produced = {id(t) for t in model.inputs}
    frozen_nodes, rest_nodes, blocker = [], [], None
    for node in model.nodes:
        if not node.inputs:  # an Input
            continue
        if not all(id(t) in produced for t in node.inputs):
            reason = "reads the output of a trainable layer"
        else:
            reason = _not_frozen(node.layer, inference=node.call_kwargs.get("training") is False)
        if reason:
            rest_nodes.append(node)
            blocker = blocker or f"layer '{node.layer.name}' {reason}"
        else:
            frozen_nodes.append(node)
            produced.update(id(t) for t in node.outputs)
    return frozen_nodes, rest_nodes, blocker, produced


class FrozenSplit:
    """A model split into its frozen part (`backbone`, run once per sample) and the trainable rest (`head`), both
    sub-models of the model cut at the same tensors (`cnnkit.models.functional`).

    Args:
        model: a built Sequential or functional cnnkit model.

    Raises:
        ValueError: a subclassed model, no frozen part fed by the inputs, or nothing left to train.
    """

    def __init__(self, model):
        from cnnkit.models.functional import Functional  # noqa: PLC0415 (models import this package)

        if not (isinstance(model, Functional) and model.built):
            raise ValueError(f"fit(cache_frozen=True) needs a Sequential or functional model; model '{model.name}' "
                             "is a subclassed model (its call() is Python code that cnnkit cannot split). Received: "
                             f"{type(model).__name__}")
        frozen_nodes, rest_nodes, blocker, produced = partition(model)
        if not frozen_nodes:
            raise ValueError(
                f"fit(cache_frozen=True): model '{model.name}' has no frozen part to cache: its first {blocker}. "
                "Only whole layers of the model itself are cached (a partly unfrozen backbone inside a Sequential is "
                "one trainable layer: build the model functionally on the backbone's layers, e.g. "
                "Model(backbone.input, head(backbone.output)), to cache its frozen blocks).")
        if not rest_nodes:
            raise ValueError(f"fit(cache_frozen=True): every layer of model '{model.name}' is frozen; there is "
                             "nothing to train.")
        needed = [t for node in rest_nodes for t in node.inputs] + model.outputs
        cut = list({id(t): t for t in needed if id(t) in produced}.values())
        self.model = model
        self.backbone = model.submodel(model.inputs, cut, name=f"{model.name}_frozen_part")
        self.head = model.submodel(cut, model.outputs, name=f"{model.name}_trained_part")

    def features(self, xs):
        """The cut tensors (Keras layout, on the host) of the Keras-layout input batch `xs` (list of tensors)."""
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            out = self.backbone.forward([layout.to_internal(x.to(device)) for x in xs], training=False)
        return [layout.to_keras(t).cpu() for t in flatten(out)[0]]

    def run_rest(self, tensors, training):
        """The model's outputs (Keras layout, a list) from the cut tensors (Keras layout, on the device)."""
        out = self.head.forward([layout.to_internal(t) for t in tensors], training=training)
        return [layout.to_keras(t) for t in flatten(out)[0]]


class Features:
    """A batch of cut tensors standing in for x: the trainer's `_forward` runs only the model's rest on it."""

    __slots__ = ("split", "tensors")

    def __init__(self, split, tensors):
        self.split, self.tensors = split, tensors

    def to(self, device, non_blocking=False):
        return Features(self.split, [t.to(device, non_blocking=non_blocking) for t in self.tensors])

    def run(self, training):
        return self.split.run_rest(self.tensors, training)


class _Store:
    """Per-sample host tensors (one array per field), filled by sample index."""

    def __init__(self, n):
        self.have = torch.zeros(n, dtype=torch.bool)
        self.arrays = None

    def put(self, index, values):
        if self.arrays is None:
            n = len(self.have)
            self.arrays = [None if v is None else torch.empty((n, *v.shape[1:]), dtype=v.dtype) for v in values]
        for array, value in zip(self.arrays, values):
            if array is not None:
                array[index] = value
        self.have[index] = True

    def get(self, index):
        return [None if a is None else a[index] for a in self.arrays]

    def complete(self, index):
        return self.arrays is not None and bool(self.have[index].all())


class CachedArrayData(data_adapter.ArrayData):
    """An ArrayData whose batches carry the frozen part's features instead of x (same shuffling: by index)."""

    def __init__(self, data, split):  # noqa: D107 (copies the adapter it wraps)
        self.__dict__.update(data.__dict__)
        self.split, self.store = split, _Store(data.num_samples)

    def _take(self, index):
        if isinstance(index, slice):
            index = torch.arange(index.start, index.stop)
        missing = index[~self.store.have[index]]
        if len(missing):
            self.store.put(missing, self.split.features([a[missing] for a in self.xs]))
        y = [v[index] for v in self.ys] if self.ys is not None else (None if self.y is None else self.y[index])
        sw = None if self.sample_weight is None else self.sample_weight[index]
        return Features(self.split, self.store.get(index)), y, sw


class CachedIteratorData:
    """A cnnkit image iterator read as fit reads it (batches in order, the iterator shuffling its samples each
    epoch), with each sample's features, label and weight stored at its first visit; complete batches are then
    gathered from the store without decoding any image."""

    def __init__(self, adapter, split):
        self.adapter, self.data, self.split = adapter, adapter.data, split
        self.steps = adapter.steps
        self.store = _Store(self.data.n)
        self.fields = None  # (has y, has sample_weight)

    def _produce(self, idx):
        """(kept sample indices, converted batch or None when every sample is stored): runs in prefetch's thread."""
        data = self.data
        bad = getattr(data, "_bad", ())
        index_array, _ = data._indices(idx)
        index = torch.as_tensor([int(i) for i in index_array if int(i) not in bad], dtype=torch.long)
        if len(index) and self.store.complete(index):
            data.total_batches_seen += 1
            return index, None
        batch = self.adapter._convert(data[idx])
        # again: reading the batch may have found more unreadable files (`bad` grows), which it leaves out
        index = torch.as_tensor([int(i) for i in index_array if int(i) not in bad], dtype=torch.long)
        size = len(flatten(batch[0])[0][0])
        if len(index) != size:
            raise ValueError(f"fit(cache_frozen=True): batch {idx} of the iterator has {size} samples, but its "
                             f"sample indices are {index_array.tolist()}; a batch whose files are all unreadable "
                             "cannot be cached. Remove the unreadable files.")
        return index, batch

    def _finish(self, index, batch):
        if batch is None:
            values = self.store.get(index)
            k = len(self.split.backbone.outputs)
            return Features(self.split, values[:k]), values[k], values[k + 1]
        x, y, sw = batch
        features = self.split.features(flatten(x)[0])
        self.store.put(index, features + [y, sw])
        return Features(self.split, features), y, sw

    def epoch(self):
        data = self.data
        if callable(getattr(data, "on_epoch_begin", None)):
            data.on_epoch_begin()
        count = len(data)
        for index, batch in data_adapter.prefetch(self._produce(i % count) for i in range(self.steps)):
            yield self._finish(index, batch)
        if callable(getattr(data, "on_epoch_end", None)):
            data.on_epoch_end()


class PrefixData:
    """Data that cannot be cached (validation only): each batch goes through the frozen part every time."""

    def __init__(self, adapter, split):
        self.adapter, self.split = adapter, split

    @property
    def steps(self):
        return self.adapter.steps

    def epoch(self):
        for x, y, sw in self.adapter.epoch():
            yield Features(self.split, self.split.features(flatten(x)[0])), y, sw


def why_not_cacheable(adapter):
    """None when `adapter`'s samples can be cached by index, else the reason (for the error message)."""
    if isinstance(adapter, data_adapter.ArrayData):
        return None
    data = adapter.data
    if isinstance(data, Iterator):
        generator = getattr(data, "image_data_generator", None)
        if generator is not None and generator.augments and getattr(data, "subset", None) != "validation":
            return ("its ImageDataGenerator applies random transforms (rotation, shifts, flips, zoom, ...), so the "
                    "frozen part's output differs every epoch; use a generator without them")
        return None
    if isinstance(data, torch.utils.data.DataLoader):
        return "a torch DataLoader does not say which samples a batch holds"
    if isinstance(data, Dataset):
        return ("a Dataset pipeline (map, shuffle, batch, ...) does not say which samples a batch holds, nor whether "
                "its map functions change them; pass the image_dataset_from_directory dataset itself")
    if adapter.indexable:
        return (f"a Keras-style Sequence ({type(data).__name__}) does not say which samples a batch holds, nor "
                "whether it changes them between epochs")
    return "a Python generator does not say which samples a batch holds, nor whether it changes them"


def cache(model, train, val, split=None, cache_val=True):
    """The (train, validation) adapters of `fit(..., cache_frozen=True)`: `split` the model's FrozenSplit (made
    when None); validation data is cached when it can be and `cache_val`, else it runs through the frozen part
    every time.

    Raises:
        ValueError: the model cannot be split (see FrozenSplit) or the training data cannot be cached.
    """
    if distributed.world_size() > 1:
        raise ValueError("fit(cache_frozen=True) is not supported in distributed training (torchrun, "
                         f"world size {distributed.world_size()}): the cached steps would bypass "
                         "DistributedDataParallel. Train without cache_frozen, or in one process.")
    reason = why_not_cacheable(train)
    if reason:
        raise ValueError(f"fit(cache_frozen=True) needs data whose samples it can cache: numpy arrays / tensors, "
                         f"or an iterator from ImageDataGenerator.flow / flow_from_directory without augmentation; "
                         f"{reason}. Received: {type(getattr(train, 'data', train)).__name__}")
    split = split or FrozenSplit(model)
    if val is not None:
        val = wrap(val, split) if cache_val else PrefixData(val, split)
    return wrap(train, split), val


def wrap(adapter, split):
    """`adapter` cached by sample index when it can be, else run through the frozen part every time."""
    if isinstance(adapter, data_adapter.ArrayData):
        return CachedArrayData(adapter, split)
    if why_not_cacheable(adapter) is None:
        return CachedIteratorData(adapter, split)
    return PrefixData(adapter, split)
