"""Weights files and whole-model files, in Keras's formats.

- `.h5` / `.hdf5` weights (tf.keras layout, also that of Keras's published ImageNet files): root attribute
  `layer_names`; one group per layer with attribute `weight_names` (the layer's trainable weights, then the
  non-trainable ones) and a dataset per name. A whole model saved as `.h5` adds `model_config` and puts the weights
  under `model_weights/`.
- `.weights.h5` (Keras 3 layout): `layers/<name>/vars/<i>`, where <name> is the snake_case class name made
  unique within its parent (conv2d, conv2d_1, ...), recursively for nested models.
- `.keras`: a zip of `config.json` (architecture), `metadata.json` and `model.weights.h5` (weights and optimizer
  state), readable by Keras 3 for the layers both support.

Weights are stored in Keras layout (conv kernels (*k, in, out), dense (in, out)); the conversion to cnnkit's torch
layout happens here and in `Layer.get/set_weights` only. Loading never unpickles anything. Every write goes to a
temporary file renamed over the target, so a crash leaves the previous file intact.
"""

import io
import json
import os
import warnings
import zipfile

import h5py
import numpy as np
import torch

from cnnkit.layers.base import _LAYOUTS
from cnnkit.utils.io import atomic_path
from cnnkit.utils.naming import to_snake_case

KERAS_VERSION = "3.15.1"


class WeightRef:
    """One weight of `owner` (a plain layer), readable and writable as a Keras-layout numpy array."""

    def __init__(self, owner, spec):
        self.owner, self.spec = owner, spec

    @property
    def name(self):
        return f"{self.owner.name}/{self.spec.attr}"

    def trainable(self, top):
        return self.spec.trainable and self.owner.trainable and top.trainable

    def read(self):
        return _LAYOUTS[self.spec.kind][1](getattr(self.owner, self.spec.attr).detach().cpu().numpy())

    def write(self, value, source):
        value = np.asarray(value)
        if tuple(value.shape) != self.spec.keras_shape:
            raise ValueError(
                f"Cannot load weight '{self.spec.attr}' of layer '{self.owner.name}' ({type(self.owner).__name__}) "
                f"from {source}: the file has shape {tuple(value.shape)}, the model expects {self.spec.keras_shape}."
            )
        target = getattr(self.owner, self.spec.attr)
        with torch.no_grad():
            target.copy_(torch.as_tensor(_LAYOUTS[self.spec.kind][0](value), dtype=target.dtype))


def _is_model(layer):
    return hasattr(layer, "_graph")


def weight_refs(layer):
    """All weights of a layer or (recursively) a model, in `get_weights()` order, without duplicates."""
    if not _is_model(layer):
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


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


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


def _assign_layer(layer, file_group, source, skip_mismatch):
    names = [_text(n) for n in file_group.attrs.get("weight_names", [])]
    values = [np.asarray(file_group[n]) for n in names]
    refs = legacy_refs(layer)
    if len(values) != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights, but {source} has "
                   f"{len(values)} for it ({names}).")
        if skip_mismatch:
            warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=3)
            return
        raise ValueError(message)
    by_name = {}
    for name, value in zip(names, values):
        parts = name.split(":")[0].split("/")
        by_name.setdefault("/".join(parts[-2:]), []).append(value)
    if all(len(by_name.get(r.name, [])) == 1 for r in refs):  # names match: robust to frozen/unfrozen order
        values = [by_name[r.name][0] for r in refs]
    for ref, value in zip(refs, values):
        if skip_mismatch and tuple(np.shape(value)) != ref.spec.keras_shape:
            warnings.warn(f"Skipping layer '{layer.name}': weight '{ref.spec.attr}' has shape {np.shape(value)} in "
                          f"{source}, expected {ref.spec.keras_shape} (skip_mismatch=True).", stacklevel=3)
            return
    for ref, value in zip(refs, values):
        ref.write(value, source)


def read_legacy(group, model, source, by_name=False, skip_mismatch=False):
    file_names = [_text(n) for n in group.attrs["layer_names"]]
    file_layers = [n for n in file_names if len(group[n].attrs.get("weight_names", []))]
    if by_name:
        wanted = {layer.name: layer for layer in _flat_layers(model) if weight_refs(layer)}
        for name in file_layers:
            if name in wanted:
                _assign_layer(wanted[name], group[name], source, skip_mismatch)
        return
    model_layers = [layer for layer in model.layers if weight_refs(layer)]
    if len(file_layers) != len(model_layers):
        raise ValueError(
            f"{source} holds weights for {len(file_layers)} layers but the model has {len(model_layers)} layers with "
            f"weights. File: {file_layers}. Model: {[layer.name for layer in model_layers]}. Use by_name=True to "
            "load the layers whose names match."
        )
    for name, layer in zip(file_layers, model_layers):
        _assign_layer(layer, group[name], source, skip_mismatch)


def _flat_layers(model):
    out = []
    for layer in model.layers:
        out.append(layer)
        if _is_model(layer):
            out.extend(_flat_layers(layer))
    return out


# ---- Keras 3 layout ----------------------------------------------------------------------------------------


def _class_path_name(layer):
    if type(layer).__name__ == "Model" and _is_model(layer):
        return "functional"
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
    if _is_model(layer):
        layers_group = group.create_group("layers")
        for name, child in _children(layer):
            write_keras3(layers_group.create_group(name), child)
        group.create_group("vars").attrs["name"] = layer.name
        return
    variables = group.create_group("vars")
    variables.attrs["name"] = layer.name
    for i, ref in enumerate(weight_refs(layer)):
        variables.create_dataset(str(i), data=ref.read())


def read_keras3(group, layer, source, path="", skip_mismatch=False):
    if _is_model(layer):
        for name, child in _children(layer):
            key = f"layers/{name}"
            if key not in group:
                if weight_refs(child):
                    raise ValueError(f"{source} has no weights for layer '{child.name}' (expected at "
                                     f"'{path}{key}'). Its entries there: {sorted(group.get('layers', {}))}")
                continue
            read_keras3(group[key], child, source, f"{path}{key}/", skip_mismatch)
        return
    refs = weight_refs(layer)
    stored = group.get("vars", {})
    if len(stored) != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights, but {source} has "
                   f"{len(stored)} at '{path}vars'.")
        if skip_mismatch:
            warnings.warn(message + " Skipped (skip_mismatch=True).", stacklevel=3)
            return
        raise ValueError(message)
    values = [np.asarray(stored[str(i)]) for i in range(len(refs))]
    if skip_mismatch and any(tuple(v.shape) != r.spec.keras_shape for v, r in zip(values, refs)):
        warnings.warn(f"Skipping layer '{layer.name}': shapes differ in {source} (skip_mismatch=True).", stacklevel=3)
        return
    for ref, value in zip(refs, values):
        ref.write(value, source)


# ---- public API --------------------------------------------------------------------------------------------


def _check_suffix(path, what, allowed):
    if not path.endswith(allowed):
        raise ValueError(f"{what}: the file name must end in {', '.join(allowed)}. Received: filepath={path!r}")


def save_weights(model, filepath, overwrite=True):
    """Writes the weights: '.weights.h5' in Keras 3's layout, '.h5'/'.hdf5' in tf.keras's."""
    path = os.fspath(filepath)
    _check_suffix(path, "save_weights", (".weights.h5", ".h5", ".hdf5"))
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        if path.endswith(".weights.h5"):
            write_keras3(f, model)
        else:
            write_legacy(f, model)


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Reads weights saved by cnnkit or Keras: Keras 3 '.weights.h5', tf.keras '.h5' (weights or whole model,
    including Keras's published ImageNet files) or a '.keras' archive."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no such file: {path}")
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            data = archive.read("model.weights.h5")
        with h5py.File(io.BytesIO(data), "r") as f:
            read_keras3(f, model, path, skip_mismatch=skip_mismatch)
        return
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"load_weights: {path} is not a readable HDF5 file ({err}).") from None
    with f:
        if "layer_names" in f.attrs:
            read_legacy(f, model, path, by_name, skip_mismatch)
        elif "model_weights" in f and "layer_names" in f["model_weights"].attrs:
            read_legacy(f["model_weights"], model, path, by_name, skip_mismatch)
        elif "layers" in f or "vars" in f:
            if by_name:
                raise ValueError("load_weights: by_name=True applies to '.h5' files, not to Keras 3 '.weights.h5'.")
            read_keras3(f, model, path, skip_mismatch=skip_mismatch)
        else:
            raise ValueError(f"load_weights: {path} is not a Keras weights file (no 'layer_names' and no 'layers').")


def _h5_bytes(write):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write(f)
    return buffer.getvalue()


def _model_config(model):
    class_name = "Sequential" if type(model).__name__ == "Sequential" else "Functional"
    return {"module": "keras", "class_name": class_name, "config": model.get_config(), "registered_name": None,
            "build_config": {"input_shape": list(model.input_shape)} if model._graph is not None else None}


def _write_optimizer(group, model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer._variables is None:
        return
    variables = group.create_group("optimizer").create_group("vars")
    variables.attrs["name"] = optimizer.name
    values = [np.array(optimizer.iterations, dtype=np.int64), np.array(optimizer.learning_rate, dtype=np.float32)]
    slots = optimizer.slots()
    for index in range(len(optimizer._variables)):
        values += [slot[index].detach().cpu().numpy() for slot in slots.values()]
    for i, value in enumerate(values):
        variables.create_dataset(str(i), data=value)


def _read_optimizer(group, model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer/vars" not in group:
        return
    stored = group["optimizer/vars"]
    optimizer.build(list(model.trainable_weights))
    slots = optimizer.slots()
    expected = 2 + len(slots) * len(optimizer._variables)
    if len(stored) != expected:
        warnings.warn(f"The optimizer state in the file has {len(stored)} entries, cnnkit's {type(optimizer).__name__} "
                      f"needs {expected}; the optimizer starts fresh.", stacklevel=3)
        optimizer._variables = None
        return
    optimizer.iterations = int(np.asarray(stored["0"]))
    position = 2
    with torch.no_grad():
        for index in range(len(optimizer._variables)):
            for slot in slots.values():
                slot[index].copy_(torch.as_tensor(np.asarray(stored[str(position)])).reshape(slot[index].shape))
                position += 1
    if hasattr(optimizer, "_steps"):
        for step in optimizer._steps:
            step.fill_(float(optimizer.iterations))


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Saves architecture, weights (and optimizer state) to '.keras' (zip) or '.h5'/'.hdf5' (tf.keras layout)."""
    path = os.fspath(filepath)
    _check_suffix(path, "save", (".keras", ".h5", ".hdf5"))
    config = _model_config(model)
    compile_config = getattr(model, "_compile_config", None)
    if path.endswith(".keras"):
        def write(f):
            write_keras3(f, model)
            if include_optimizer:
                _write_optimizer(f, model)
        weights = _h5_bytes(write)
        if compile_config is not None:
            config["compile_config"] = compile_config
        with atomic_path(path, overwrite) as tmp, zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr("metadata.json", json.dumps({"keras_version": KERAS_VERSION, "cnnkit": True}))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights)
        return
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": config["class_name"], "config": config["config"]})
        f.attrs["backend"] = "torch"
        f.attrs["keras_version"] = KERAS_VERSION
        if compile_config is not None:
            f.attrs["training_config"] = json.dumps(compile_config)
        write_legacy(f.create_group("model_weights"), model)


def load_model(filepath, custom_objects=None, compile=True):
    """Opens a model saved by `model.save` (cnnkit or Keras 3): '.keras', or a tf.keras whole-model '.h5'.

    No code from the file is run: the architecture is rebuilt from its JSON config through cnnkit's layer
    registry.
    """
    from cnnkit.models.model import model_from_config  # noqa: PLC0415 (model.py imports this module)

    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path}")
    if path.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                weights = archive.read("model.weights.h5")
        except (zipfile.BadZipFile, KeyError) as err:
            raise ValueError(f"load_model: {path} is not a valid .keras archive ({err}).") from None
        model = model_from_config(config)
        compile_config = config.get("compile_config")
        if compile and compile_config:
            model.compile(**_compile_args(compile_config))
        with h5py.File(io.BytesIO(weights), "r") as f:
            read_keras3(f, model, path)
            if compile and compile_config:
                _read_optimizer(f, model)
        return model
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"load_model: {path} is neither a .keras archive nor a readable HDF5 file ({err}).") from None
    with f:
        if "model_config" not in f.attrs:
            raise ValueError(f"load_model: {path} holds weights only (no model_config); build the model and call "
                             "model.load_weights(path).")
        model = model_from_config(json.loads(_text(f.attrs["model_config"])))
        read_legacy(f["model_weights"], model, path)
        if compile and "training_config" in f.attrs:
            model.compile(**_compile_args(json.loads(_text(f.attrs["training_config"]))))
    return model


def _compile_args(compile_config):
    args = {}
    optimizer = compile_config.get("optimizer", compile_config.get("optimizer_config"))
    if optimizer is not None:
        args["optimizer"] = optimizer
    for key in ("loss", "metrics", "loss_weights"):
        if compile_config.get(key) is not None:
            args[key] = compile_config[key]
    return args


