"""Weights files and whole-model files, in Keras's formats.

- `.h5` / `.hdf5` weights (tf.keras layout, also that of Keras's published ImageNet files): root attribute
  `layer_names`; one group per layer with attribute `weight_names` (the layer's trainable weights, then the
  non-trainable ones) and a dataset per name. A whole model saved as `.h5` adds `model_config` and
  `training_config` and puts the weights under `model_weights/` (and the optimizer state under
  `cnnkit_optimizer_weights/`, laid out as Keras's `optimizer_weights/`, which is read too).
- `.weights.h5` (Keras 3 layout): `layers/<name>/vars/<i>`, where <name> is the snake_case class name made
  unique within its parent (conv2d, conv2d_1, ...), recursively for nested models.
- `.keras`: a zip of `config.json` (architecture and compile config, in Keras 3's form), `metadata.json` and
  `model.weights.h5` (weights and optimizer state), readable by Keras 3 for the layers both support.

Weights are stored in Keras layout (conv kernels (*k, in, out), dense (in, out)); the conversion to cnnkit's torch
layout happens here and in `Layer.get/set_weights` only. Files are untrusted input: loading never unpickles
anything, reads HDF5 datasets and archive members only through the checks of `cnnkit.models.untrusted`, checks
every shape before it reads or changes any weight (a failed load leaves the model as it was), caps the weights a
config may declare (`cnnkit.layers.weight_budget`), and reports a damaged, foreign or hostile file as a
ValueError naming the file and the place in it (dataset, member or config field). Every write goes to a
temporary file renamed over the target, so a crash leaves the previous file intact.
"""

import io
import json
import os
import re
import zipfile

import h5py
import numpy as np

from cnnkit.config import SafeModeScope
from cnnkit.config import custom_object_scope
from cnnkit.config import in_safe_mode
from cnnkit.layers import weight_budget
from cnnkit.layers.serialization import config_field
from cnnkit.layers.serialization import deserialize
from cnnkit.models.h5_weights import KERAS_VERSION
from cnnkit.models.h5_weights import decode_text
from cnnkit.models.h5_weights import read_keras3
from cnnkit.models.h5_weights import read_legacy
from cnnkit.models.h5_weights import write_keras3
from cnnkit.models.h5_weights import write_legacy
from cnnkit.models.keras_config import compile_args
from cnnkit.models.keras_config import compile_config
from cnnkit.models.keras_config import keras_model_config
from cnnkit.models.keras_config import load_optimizer_state
from cnnkit.models.keras_config import optimizer_state
from cnnkit.models.keras_config import read_optimizer
from cnnkit.models.keras_config import read_state_values
from cnnkit.models.keras_config import write_optimizer
from cnnkit.models.untrusted import ASSETS_LIMIT
from cnnkit.models.untrusted import CONFIG_LIMIT
from cnnkit.models.untrusted import MAX_EXPANSION
from cnnkit.models.untrusted import METADATA_LIMIT
from cnnkit.models.untrusted import WEIGHTS_OVERHEAD
from cnnkit.models.untrusted import Archive
from cnnkit.models.untrusted import check_depth
from cnnkit.models.untrusted import child
from cnnkit.models.untrusted import name_list
from cnnkit.models.untrusted import weights_limit
from cnnkit.utils.io import atomic_path

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
LEGACY_OPTIMIZER_GROUP = "cnnkit_optimizer_weights"
# What a damaged or foreign file raises from h5py / zipfile / json while it is read.
# h5py raises RuntimeError (and TypeError, IndexError) on some damaged structures.
_READ_ERRORS = (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, EOFError,
                RuntimeError, TypeError, IndexError)


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


def _open_h5(path, what):
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{what}: {path} is not a readable HDF5 file (damaged, truncated, or another kind of "
                         f"file): {err}") from None


def _open_archive(path, what):
    try:
        archive = Archive(path, what)
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as err:
        raise ValueError(f"{what}: {path} is not a valid .keras archive (damaged, truncated, or another kind of "
                         f"file): {err}") from None
    if "model.weights.h5" not in archive.members:
        archive.close()
        raise ValueError(f"{what}: {path} is not a valid .keras archive: it holds no model.weights.h5 "
                         f"(entries: {archive.names()}).")
    return archive


def _read_weights_member(archive, model):
    """model.weights.h5's bytes, within the limits `model`'s own size sets (checked before inflating)."""
    limit = weights_limit(model)
    archive.check_total(limit + CONFIG_LIMIT + METADATA_LIMIT + ASSETS_LIMIT)
    return archive.read("model.weights.h5", limit)


def _parse_json(text, path, what, member):
    """JSON from a file's member or attribute; a ValueError naming them when it is not (or nested too deep)."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else f"{type(err).__name__}: {err}"
        raise ValueError(f"{what}: {path}: {member} is not valid JSON ({reason}).") from None
    check_depth(value, f"{what}: {path}: {member}")
    return value


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Reads weights saved by cnnkit or Keras: Keras 3 '.weights.h5', tf.keras '.h5' (weights or whole model,
    including Keras's published ImageNet files) or a '.keras' archive.

    Raises:
        ValueError: a file name without one of those suffixes, a damaged or foreign file, or weights that do not
            fit the model (the message names the layer and the shapes); the model is then left unchanged.
        FileNotFoundError: no file at `filepath`.
    """
    path = os.fspath(filepath)
    _check_suffix(path, "load_weights", WEIGHTS_SUFFIXES)
    if by_name and path.endswith((".keras", ".weights.h5")):
        raise ValueError(f"load_weights: by_name=True applies to legacy '.h5'/'.hdf5' files only (as in Keras). "
                         f"Received: filepath={path!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: no such file: {path}")
    try:
        if path.endswith(".keras"):
            with _open_archive(path, "load_weights") as archive:
                data = _read_weights_member(archive, model)
            with h5py.File(io.BytesIO(data), "r") as f:
                read_keras3(f, model, path, skip_mismatch=skip_mismatch)
            return
        with _open_h5(path, "load_weights") as f:
            if "layer_names" in f.attrs:
                read_legacy(f, model, path, by_name, skip_mismatch)
            elif "layer_names" in getattr(child(f, "model_weights", path, h5py.Group), "attrs", {}):
                read_legacy(f["model_weights"], model, path, by_name, skip_mismatch)
            elif "layers" in f or "vars" in f:
                if by_name:
                    raise ValueError(f"load_weights: by_name=True applies to tf.keras '.h5' files; {path} is in "
                                     "Keras 3's '.weights.h5' layout.")
                read_keras3(f, model, path, skip_mismatch=skip_mismatch)
            else:
                raise ValueError(f"load_weights: {path} is not a Keras weights file (no 'layer_names' and no "
                                 "'layers').")
    except _READ_ERRORS as err:
        raise ValueError(f"load_weights: {path} is damaged or not a Keras weights file: {type(err).__name__}: "
                         f"{err}") from None


def _h5_bytes(write):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write(f)
    return buffer.getvalue()


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Saves architecture, weights (and optimizer state) to '.keras' (zip) or '.h5'/'.hdf5' (tf.keras layout),
    in the forms Keras 3 writes, so that `keras.models.load_model` opens them too."""
    path = os.fspath(filepath)
    _check_suffix(path, "save", MODEL_SUFFIXES)
    config = keras_model_config(model)
    compiled = compile_config(model)
    state = optimizer_state(model) if include_optimizer and compiled is not None else []
    if path.endswith(".keras"):
        def write(f):
            write_keras3(f, model)
            if state:
                write_optimizer(f, model)
        weights = _h5_bytes(write)
        if compiled is not None:
            config["compile_config"] = compiled
        with atomic_path(path, overwrite) as tmp, zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr("metadata.json", json.dumps({"keras_version": KERAS_VERSION, "cnnkit": True}))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights)
        return
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["model_config"] = json.dumps({k: v for k, v in config.items() if k != "build_config"})
        f.attrs["backend"] = "torch"
        f.attrs["keras_version"] = KERAS_VERSION
        if compiled is not None:
            training = {k: v for k, v in compiled.items() if k != "optimizer"}
            training["optimizer_config"] = {"class_name": compiled["optimizer"]["class_name"],
                                            "config": compiled["optimizer"]["config"]}
            f.attrs["training_config"] = json.dumps(training)
        write_legacy(f.create_group("model_weights"), model)
        if state:
            # Keras 3.15 cannot restore an optimizer from a legacy '.h5' (it builds it for no variables, and the
            # model then cannot train), so the state goes under a name Keras does not read: Keras starts training
            # afresh, cnnkit goes on from the saved state. Keras's own 'optimizer_weights' are read too.
            group = f.create_group(LEGACY_OPTIMIZER_GROUP)
            group.attrs["weight_names"] = np.array([name.encode("utf8") for name, _ in state])
            for name, value in state:
                group.create_dataset(name, data=value)


def _loading_scopes(custom_objects, safe_mode):
    """The scopes a load runs in: Keras's rule, a safe mode set around the call (SafeModeScope or
    enable_unsafe_deserialization) wins over the `safe_mode` argument."""
    ambient = in_safe_mode()
    return custom_object_scope(custom_objects), SafeModeScope(safe_mode if ambient is None else ambient)


def model_from_config(config, custom_objects=None, safe_mode=True):
    """A model (or layer) from Keras's {'class_name': ..., 'config': ...} form, as written in model files.

    Args:
        config: the dict (cnnkit's or Keras's).
        custom_objects: {name: function} for the named functions of Lambda layers.
        safe_mode: True (default) refuses Lambda layers stored as Python bytecode, which would run code from the
            config; False rebuilds them (only for configs you trust).
    """
    objects, safety = _loading_scopes(custom_objects, safe_mode)
    with objects, safety:
        return deserialize(config)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Opens a model saved by `model.save` (cnnkit or Keras 3): '.keras', or a tf.keras whole-model '.h5'.

    The architecture is rebuilt from its JSON config through cnnkit's layer registry. With compile=True a saved
    compile config compiles the model and restores the optimizer state.

    Args:
        custom_objects: {name: function} for the functions Lambda layers name (functions of Keras-layout torch
            tensors).
        safe_mode: True (default): no code from the file is run; a Lambda layer stored as Python bytecode is
            refused with a ValueError naming it. False rebuilds such layers (the bytecode runs: only for files
            you trust), as Keras's `safe_mode=False`.

    Raises:
        ValueError: another suffix, a damaged or foreign file, a weights-only file, a layer option cnnkit
            cannot honour, or a Python lambda in safe mode (named with the layer).
        FileNotFoundError: no file at `filepath`.
    """
    path = os.fspath(filepath)
    _check_suffix(path, "load_model", MODEL_SUFFIXES)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path}")
    objects, safety = _loading_scopes(custom_objects, safe_mode)
    try:
        with objects, safety:
            if path.endswith(".keras"):
                return _load_keras_archive(path, compile)
            with _open_h5(path, "load_model") as f:
                return _load_legacy_model(f, path, compile)
    except _READ_ERRORS as err:
        raise ValueError(f"load_model: {path} is damaged or not a Keras model file: {type(err).__name__}: "
                         f"{err}") from None


def _model_from_file_config(config, path, stored_bytes):
    """The model a file's config describes; any error (a wrong type, a missing key, an unknown class) becomes a
    ValueError naming the file and the field. The layers may allocate at most what `stored_bytes` of HDF5 can
    hold (MAX_EXPANSION times, for compressed datasets) and never more than the machine's memory."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"load_model: {path} holds no model architecture (config).")
    budget = MAX_EXPANSION * stored_bytes + WEIGHTS_OVERHEAD
    why = f"what its {stored_bytes:,} bytes of weights data can hold"
    memory = weight_budget.memory_bytes()
    if memory is not None and memory < budget:
        budget, why = memory, "the machine's memory"
    try:
        with weight_budget.limit(budget, why):
            return deserialize(config, "")
    except Exception as err:  # noqa: BLE001 (untrusted input: every failure is reported as the file's fault)
        field = config_field(err)
        if field in ("", "config"):
            field = _named_layer_field(config, str(err)) or "config"
        raise _config_error(err, path, field) from None


def _named_layer_field(config, text):
    """The place in `config` of the layer an error message names ("Layer 'conv'"), for errors raised while the
    graph is built rather than while a layer is made; None when the message names none or several."""
    match = re.search(r"[Ll]ayer '([^']+)'", text)
    if not match:
        return None
    found, stack = [], [(config, "")]
    while stack:
        spec, place = stack.pop()
        layers = spec.get("config", {}).get("layers") if isinstance(spec.get("config"), dict) else None
        for i, sub in enumerate(layers if isinstance(layers, list) else []):
            if isinstance(sub, dict):
                sub_place = f"{place}.config.layers[{i}]".lstrip(".")
                if sub.get("name") == match.group(1) or (isinstance(sub.get("config"), dict)
                                                         and sub["config"].get("name") == match.group(1)):
                    found.append(sub_place)
                stack.append((sub, sub_place))
    return found[0] if len(found) == 1 else None


def _config_error(err, path, field):
    kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
    text = "nested too deeply" if isinstance(err, RecursionError) else str(err)
    return ValueError(f"load_model: {path}: {field}: {kind}{text}")


def _compile_from_file(model, compiled, path, field):
    try:
        if not isinstance(compiled, dict):
            raise ValueError(f"must be a dict. Received: {compiled!r}")
        model.compile(**compile_args(compiled))
    except Exception as err:  # noqa: BLE001 (untrusted input)
        raise _config_error(err, path, field) from None


def _load_keras_archive(path, compile):
    with _open_archive(path, "load_model") as archive:
        if "config.json" not in archive.members:
            raise ValueError(f"load_model: {path} is not a valid .keras archive: it holds no config.json.")
        config = _parse_json(archive.read("config.json", CONFIG_LIMIT), path, "load_model", "config.json")
        model = _model_from_file_config(config, path, archive.members["model.weights.h5"].file_size)
        weights = _read_weights_member(archive, model)
    compiled = config.get("compile_config")
    if compile and compiled:
        _compile_from_file(model, compiled, path, "compile_config")
    with h5py.File(io.BytesIO(weights), "r") as f:
        read_keras3(f, model, path)
        if compile and compiled:
            read_optimizer(f, model, path)
    return model


def _load_legacy_model(f, path, compile):
    if "model_config" not in f.attrs:
        raise ValueError(f"load_model: {path} holds weights only (no model_config); build the model and call "
                         "model.load_weights(path).")
    model = _model_from_file_config(_parse_json(decode_text(f.attrs["model_config"]), path, "load_model",
                                                "model_config"), path, os.path.getsize(path))
    weights = child(f, "model_weights", path, h5py.Group)
    if weights is None:
        raise ValueError(f"load_model: {path} is damaged: it has a model_config but no model_weights group.")
    read_legacy(weights, model, path)
    if compile and "training_config" in f.attrs:
        training = _parse_json(decode_text(f.attrs["training_config"]), path, "load_model", "training_config")
        _compile_from_file(model, training, path, "training_config")
        group = next((g for g in (child(f, n, path, h5py.Group) for n in (LEGACY_OPTIMIZER_GROUP,
                                                                          "optimizer_weights")) if g is not None),
                     None)
        if group is not None:
            names = name_list(group, "weight_names", path)
            load_optimizer_state(model, read_state_values(group, names, model, path), path)
    return model
