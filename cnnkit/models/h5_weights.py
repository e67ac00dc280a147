"""Weights in HDF5, in Keras's two layouts, with the conversion from cnnkit's torch layout.

- tf.keras (legacy) `.h5` / `.hdf5`, also the layout of Keras's published ImageNet files: root attribute
  `layer_names`; one group per layer with attribute `weight_names` (the layer's trainable weights, then the
  non-trainable ones) and a dataset per name.
- Keras 3 `.weights.h5` (also inside `.keras` archives): `layers/<name>/vars/<i>`, where <name> is the snake_case
  class name made unique within its parent (conv2d, conv2d_1, ...), recursively for nested models.

Weights are stored in Keras layout (conv kernels (*k, in, out), dense (in, out)). Reading checks every declared
shape (and `cnnkit.models.untrusted`'s storage rules) before it reads any data, and every value before it changes
any weight, so a failed load leaves the model as it was. Weights holding NaN or Inf are loaded (as Keras does),
with a warning naming the layer and the weight.
"""

import warnings

import h5py
import numpy as np

from cnnkit.models.model import Model
from cnnkit.models.untrusted import child
from cnnkit.models.untrusted import dataset_shape
from cnnkit.models.untrusted import name_list
from cnnkit.models.untrusted import read_dataset
from cnnkit.utils.naming import to_snake_case

KERAS_VERSION = "3.15.1"


class WeightRef:
    """One weight of `owner` (a plain layer), readable and writable as a Keras-layout numpy array."""

    def __init__(self, owner, spec):
        self.owner, self.spec = owner, spec

    @property
    def name(self):
        return f"{self.owner.name}/{self.spec.attr}"

    @property
    def tensor(self):
        return getattr(self.owner, self.spec.attr)

    def trainable(self, top):
        return self.spec.trainable and self.owner.trainable and top.trainable

    def read(self):
        return self.owner._weight_value(self.spec)

    def mismatch(self, shape, source, stored_as=None):
        """A message naming the layer, the weight and both shapes when a value of `shape` does not fit; None
        when it does."""
        if tuple(shape) == self.spec.keras_shape:
            return None
        where = f" (as '{stored_as}')" if stored_as else ""
        return (f"Cannot load weight '{self.spec.attr}' of layer '{self.owner.name}' ({type(self.owner).__name__}) "
                f"from {source}: the file has shape {tuple(shape)}{where}, the model expects "
                f"{self.spec.keras_shape}.")

    def write(self, value, source):
        value = np.asarray(value)
        message = self.mismatch(np.shape(value), source)
        if message:
            raise ValueError(message)
        self.owner._assign_weight(self.spec, value)


def weight_refs(layer):
    """All weights of a layer or (recursively) a model, in `get_weights()` order, without duplicates."""
    if not isinstance(layer, Model):
        return [WeightRef(layer, spec) for spec in layer._weight_specs]
    refs, seen = [], set()
    for sub in layer.layers:
        for ref in weight_refs(sub):
            key = (id(ref.owner), ref.spec.attr)
            if key not in seen:
                seen.add(key)
                refs.append(ref)
    return refs


def legacy_refs(layer):
    """Weights in the tf.keras HDF5 order: trainable ones first, then the non-trainable ones."""
    refs = weight_refs(layer)
    return [r for r in refs if r.trainable(layer)] + [r for r in refs if not r.trainable(layer)]


def decode_text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def warn(message):
    warnings.warn(message, UserWarning, stacklevel=4)


def _read_planned(plan, source):
    """(ref, value) pairs from (ref, dataset) pairs whose declared shapes fit: reads each dataset (only now)."""
    return [(ref, read_dataset(dset, source, ref.spec.keras_shape)) for ref, dset in plan]


def _apply(plan, source):
    """Writes (ref, value) pairs; every shape was checked before, so nothing is half loaded. Values holding
    NaN or Inf are written too (as Keras does), with a warning naming the layer and the weight."""
    for ref, value in plan:
        if value.dtype.kind == "f" and value.size and not np.isfinite(value).all():
            bad = int(value.size - np.isfinite(value).sum())
            warn(f"{source}: weight '{ref.spec.attr}' of layer '{ref.owner.name}' ({type(ref.owner).__name__}) "
                 f"holds {bad} NaN or Inf value(s) of {value.size}; loaded as they are (as Keras does).")
    for ref, value in plan:
        ref.write(value, source)


# ---- tf.keras (legacy) HDF5 layout -------------------------------------------------------------------------


def write_legacy(group, model):
    layers = model.layers
    group.attrs["layer_names"] = np.array([layer.name.encode("utf8") for layer in layers])
    group.attrs["backend"] = b"torch"
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in layers:
        sub = group.create_group(layer.name)
        refs = legacy_refs(layer)
        sub.attrs["weight_names"] = np.array([r.name.encode("utf8") for r in refs])
        for ref in refs:
            sub.create_dataset(ref.name, data=ref.read())


def _legacy_layer_plan(layer, file_group, source, skip_mismatch, by_name):
    """(ref, value) pairs for one layer from its group of a tf.keras HDF5 file, as Keras matches them.

    A different number of weights raises (with by_name=True and skip_mismatch=True: skips the layer, warning);
    a weight of another shape raises (with skip_mismatch=True: skips that weight, warning), as Keras does.
    """
    names = name_list(file_group, "weight_names", source)
    refs = legacy_refs(layer)
    if len(names) != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights "
                   f"{[r.spec.attr for r in refs]}, but {source} has {len(names)} for it {names}.")
        if skip_mismatch and by_name:
            warn(message + " Skipped (skip_mismatch=True).")
            return []
        raise ValueError(message)
    datasets = []
    for name in names:
        dset = child(file_group, name, source, h5py.Dataset)
        if dset is None:
            raise ValueError(f"{source} is damaged: layer group '{file_group.name}' lists weight '{name}', which it "
                             "does not hold.")
        datasets.append(dset)
    # Files name each weight 'layer/weight' (maybe under a prefix, maybe with ':0'); when those names match the
    # model's, pair by name, which also reads a nested model frozen in one file and trainable in the model.
    keyed = {}
    for name, dset in zip(names, datasets):
        keyed.setdefault("/".join(name.split(":")[0].split("/")[-2:]), []).append((name, dset))
    if all(len(keyed.get(r.name, [])) == 1 for r in refs):
        pairs = [keyed[r.name][0] for r in refs]
    else:
        pairs = list(zip(names, datasets))
    plan = []
    for ref, (name, dset) in zip(refs, pairs):
        message = ref.mismatch(dataset_shape(dset, source), source, name)
        if message:
            if skip_mismatch:
                warn(message + " Skipped (skip_mismatch=True).")
                continue
            raise ValueError(message)
        plan.append((ref, dset))
    return _read_planned(plan, source)


def read_legacy(group, model, source, by_name=False, skip_mismatch=False):
    file_names = name_list(group, "layer_names", source)
    absent = [n for n in file_names if child(group, n, source, h5py.Group) is None]
    if absent:
        raise ValueError(f"{source} is damaged: it lists layers {absent} but holds no weights group for them.")
    plan = []
    if by_name:
        # As Keras: the model's own layers (a nested model is one layer), matched by name; others are left as is.
        layers = {layer.name: layer for layer in model.layers}
        for name in file_names:
            if name in layers:
                plan += _legacy_layer_plan(layers[name], group[name], source, skip_mismatch, by_name=True)
    else:
        file_layers = [n for n in file_names if name_list(group[n], "weight_names", source)]
        model_layers = [layer for layer in model.layers if weight_refs(layer)]
        if len(file_layers) != len(model_layers):
            raise ValueError(
                f"Layer count mismatch: {source} holds weights for {len(file_layers)} layers but the model has "
                f"{len(model_layers)} layers with weights. File: {file_layers}. Model: "
                f"{[layer.name for layer in model_layers]}. Use by_name=True to load the layers whose names match."
            )
        for name, layer in zip(file_layers, model_layers):
            plan += _legacy_layer_plan(layer, group[name], source, skip_mismatch, by_name=False)
    _apply(plan, source)


# ---- Keras 3 layout ----------------------------------------------------------------------------------------


def _class_path_name(layer):
    return to_snake_case(type(layer).__name__)


def _children(model):
    counts, out = {}, []
    for layer in model.layers:
        base = _class_path_name(layer)
        count = counts.get(base, 0)
        counts[base] = count + 1
        out.append((base if count == 0 else f"{base}_{count}", layer))
    return out


def write_keras3(group, layer):
    if isinstance(layer, Model):
        layers_group = group.create_group("layers")
        for name, sub in _children(layer):
            write_keras3(layers_group.create_group(name), sub)
        group.create_group("vars").attrs["name"] = layer.name
        return
    variables = group.create_group("vars")
    variables.attrs["name"] = layer.name
    for i, ref in enumerate(weight_refs(layer)):
        variables.create_dataset(str(i), data=ref.read())


def _holds_weights(group, source, depth=0):
    if not isinstance(group, h5py.Group) or depth > 64:  # deeper than any model: a link cycle
        return False
    variables = child(group, "vars", source)
    if isinstance(variables, h5py.Group) and len(variables):
        return True
    layers = child(group, "layers", source)
    return isinstance(layers, h5py.Group) and any(_holds_weights(child(layers, n, source), source, depth + 1)
                                                  for n in layers)


def _keras3_plan(group, layer, source, path, skip_mismatch, plan):
    """Adds the (ref, value) pairs of `layer` (recursively for models) from its group of a Keras 3 file.

    As Keras: a layer missing from the file, or with another number of weights or another shape, raises (with
    skip_mismatch=True: the layer is skipped, with a warning). Unlike Keras, weights in the file for layers the
    model does not have raise too (a file for another architecture), unless skip_mismatch=True.
    """
    if isinstance(layer, Model):
        layers_group = child(group, "layers", source, h5py.Group)
        children = _children(layer)
        for name, sub in children:
            if layers_group is None or name not in layers_group:
                if weight_refs(sub):
                    message = (f"{source} has no weights for layer '{sub.name}' ({type(sub).__name__}, expected "
                               f"at '{path}layers/{name}'). Its entries there: "
                               f"{sorted(layers_group) if layers_group is not None else []}.")
                    if not skip_mismatch:
                        raise ValueError(message)
                    warn(message + " Skipped (skip_mismatch=True).")
                continue
            _keras3_plan(child(layers_group, name, source, h5py.Group), sub, source, f"{path}layers/{name}/",
                         skip_mismatch, plan)
        known = {name for name, _ in children}
        extra = sorted(n for n in (layers_group or {})
                       if n not in known and _holds_weights(child(layers_group, n, source), source))
        if extra:
            message = (f"{source} holds weights for layers that model '{layer.name}' does not have: "
                       f"{[f'{path}layers/{n}' for n in extra]} (the model's layers there: {sorted(known)}). It "
                       "was saved from another architecture.")
            if not skip_mismatch:
                raise ValueError(message)
            warn(message + " Ignored (skip_mismatch=True).")
        return
    refs = weight_refs(layer)
    stored = child(group, "vars", source, h5py.Group)
    count = len(stored) if stored is not None else 0
    if count != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights "
                   f"{[r.spec.attr for r in refs]}, but {source} has {count} at '{path}vars'.")
        if not skip_mismatch:
            raise ValueError(message)
        warn(message + " Skipped (skip_mismatch=True).")
        return
    datasets = []
    for i in range(len(refs)):
        dset = child(stored, str(i), source, h5py.Dataset)
        if dset is None:
            raise ValueError(f"{source} is damaged: '{path}vars' holds {count} entries but no '{i}'.")
        datasets.append(dset)
    messages = [m for m in (r.mismatch(dataset_shape(d, source), source, f"{path}vars/{i}")
                            for i, (r, d) in enumerate(zip(refs, datasets))) if m]
    if messages:
        if not skip_mismatch:
            raise ValueError(messages[0])
        warn(messages[0] + f" Layer '{layer.name}' skipped (skip_mismatch=True).")
        return
    plan.extend(zip(refs, datasets))


def read_keras3(group, layer, source, path="", skip_mismatch=False):
    plan = []
    _keras3_plan(group, layer, source, path, skip_mismatch, plan)
    _apply(_read_planned(plan, source), source)
