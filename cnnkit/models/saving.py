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
layout happens here and in `Layer.get/set_weights` only. Loading never unpickles anything, checks every shape
before it changes any weight (a failed load leaves the model as it was), and reports a damaged or foreign file as
a ValueError naming the file. Every write goes to a temporary file renamed over the target, so a crash leaves the
previous file intact.
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

WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
LEGACY_OPTIMIZER_GROUP = "cnnkit_optimizer_weights"
# What a damaged or foreign file raises from h5py / zipfile / json while it is read.
_READ_ERRORS = (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, EOFError)


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
        return _LAYOUTS[self.spec.kind][1](self.tensor.detach().cpu().numpy())

    def mismatch(self, value, source, stored_as=None):
        """A message naming the layer, the weight and both shapes when `value` does not fit; None when it does."""
        if tuple(np.shape(value)) == self.spec.keras_shape:
            return None
        where = f" (as '{stored_as}')" if stored_as else ""
        return (f"Cannot load weight '{self.spec.attr}' of layer '{self.owner.name}' ({type(self.owner).__name__}) "
                f"from {source}: the file has shape {tuple(np.shape(value))}{where}, the model expects "
                f"{self.spec.keras_shape}.")

    def write(self, value, source):
        value = np.asarray(value)
        message = self.mismatch(value, source)
        if message:
            raise ValueError(message)
        target = self.tensor
        with torch.no_grad():
            target.copy_(torch.as_tensor(_LAYOUTS[self.spec.kind][0](value), dtype=target.dtype))


def _is_model(layer):
    return hasattr(layer, "_graph")


def _is_functional(layer):
    from cnnkit.models.model import Model  # noqa: PLC0415 (model.py imports this module)

    return isinstance(layer, Model) and type(layer).get_config is Model.get_config


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


def _warn(message):
    warnings.warn(message, UserWarning, stacklevel=4)


def _apply(plan, source):
    """Writes (ref, value) pairs; every shape was checked before, so nothing is half loaded."""
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
    names = [_text(n) for n in file_group.attrs.get("weight_names", [])]
    refs = legacy_refs(layer)
    if len(names) != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights "
                   f"{[r.spec.attr for r in refs]}, but {source} has {len(names)} for it {names}.")
        if skip_mismatch and by_name:
            _warn(message + " Skipped (skip_mismatch=True).")
            return []
        raise ValueError(message)
    for name in names:
        if name not in file_group:
            raise ValueError(f"{source} is damaged: layer group '{file_group.name}' lists weight '{name}', which it "
                             "does not hold.")
    values = [np.asarray(file_group[n]) for n in names]
    # Files name each weight 'layer/weight' (maybe under a prefix, maybe with ':0'); when those names match the
    # model's, pair by name, which also reads a nested model frozen in one file and trainable in the model.
    keyed = {}
    for name, value in zip(names, values):
        keyed.setdefault("/".join(name.split(":")[0].split("/")[-2:]), []).append((name, value))
    if all(len(keyed.get(r.name, [])) == 1 for r in refs):
        pairs = [keyed[r.name][0] for r in refs]
    else:
        pairs = list(zip(names, values))
    plan = []
    for ref, (name, value) in zip(refs, pairs):
        message = ref.mismatch(value, source, name)
        if message:
            if skip_mismatch:
                _warn(message + " Skipped (skip_mismatch=True).")
                continue
            raise ValueError(message)
        plan.append((ref, value))
    return plan


def read_legacy(group, model, source, by_name=False, skip_mismatch=False):
    file_names = [_text(n) for n in group.attrs["layer_names"]]
    absent = [n for n in file_names if n not in group]
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
        file_layers = [n for n in file_names if len(group[n].attrs.get("weight_names", []))]
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


def _holds_weights(group):
    if not isinstance(group, h5py.Group):
        return False
    if "vars" in group and len(group["vars"]):
        return True
    return "layers" in group and any(_holds_weights(g) for g in group["layers"].values())


def _keras3_plan(group, layer, source, path, skip_mismatch, plan):
    """Adds the (ref, value) pairs of `layer` (recursively for models) from its group of a Keras 3 file.

    As Keras: a layer missing from the file, or with another number of weights or another shape, raises (with
    skip_mismatch=True: the layer is skipped, with a warning). Unlike Keras, weights in the file for layers the
    model does not have raise too (a file for another architecture), unless skip_mismatch=True.
    """
    if _is_model(layer):
        layers_group = group.get("layers")
        children = _children(layer)
        for name, child in children:
            if layers_group is None or name not in layers_group:
                if weight_refs(child):
                    message = (f"{source} has no weights for layer '{child.name}' ({type(child).__name__}, expected "
                               f"at '{path}layers/{name}'). Its entries there: "
                               f"{sorted(layers_group) if layers_group is not None else []}.")
                    if not skip_mismatch:
                        raise ValueError(message)
                    _warn(message + " Skipped (skip_mismatch=True).")
                continue
            _keras3_plan(layers_group[name], child, source, f"{path}layers/{name}/", skip_mismatch, plan)
        known = {name for name, _ in children}
        extra = sorted(n for n in (layers_group or {}) if n not in known and _holds_weights(layers_group[n]))
        if extra:
            message = (f"{source} holds weights for layers that model '{layer.name}' does not have: "
                       f"{[f'{path}layers/{n}' for n in extra]} (the model's layers there: {sorted(known)}). It "
                       "was saved from another architecture.")
            if not skip_mismatch:
                raise ValueError(message)
            _warn(message + " Ignored (skip_mismatch=True).")
        return
    refs = weight_refs(layer)
    stored = group.get("vars")
    count = len(stored) if stored is not None else 0
    if count != len(refs):
        message = (f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(refs)} weights "
                   f"{[r.spec.attr for r in refs]}, but {source} has {count} at '{path}vars'.")
        if not skip_mismatch:
            raise ValueError(message)
        _warn(message + " Skipped (skip_mismatch=True).")
        return
    values = [np.asarray(stored[str(i)]) for i in range(len(refs))]
    messages = [m for m in (r.mismatch(v, source, f"{path}vars/{i}") for i, (r, v) in enumerate(zip(refs, values)))
                if m]
    if messages:
        if not skip_mismatch:
            raise ValueError(messages[0])
        _warn(messages[0] + f" Layer '{layer.name}' skipped (skip_mismatch=True).")
        return
    plan.extend(zip(refs, values))


def read_keras3(group, layer, source, path="", skip_mismatch=False):
    plan = []
    _keras3_plan(group, layer, source, path, skip_mismatch, plan)
    _apply(plan, source)


# ---- configs in Keras 3's form -----------------------------------------------------------------------------


def _keras_layer_spec(spec):
    """cnnkit's serialized layer (or nested model) -> the form Keras 3 writes, recursively."""
    class_name, config = spec["class_name"], dict(spec["config"])
    if "layers" in config and "input_layers" in config:
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": _keras_functional_config(config), "registered_name": "Functional"}
    if "layers" in config:
        return {"module": "keras", "class_name": "Sequential", "config": _keras_sequential_config(config),
                "registered_name": None}
    config.pop("batch_input_shape", None)  # Keras takes the input shape from the InputLayer only
    return {"module": spec.get("module", "keras.layers"), "class_name": class_name, "config": config,
            "registered_name": None}


def _keras_sequential_config(config):
    return {"name": config["name"], "trainable": config.get("trainable", True),
            "layers": [_keras_layer_spec(spec) for spec in config["layers"]]}


def _keras_functional_config(config):
    functional = {spec["name"] for spec in config["layers"]
                  if "layers" in spec["config"] and "input_layers" in spec["config"]}
    layers = []
    for spec in config["layers"]:
        out = _keras_layer_spec(spec)
        out["name"] = spec["name"]
        out["inbound_nodes"] = [{"args": [node["args"]] if node.get("as_list") else list(node["args"]),
                                 "kwargs": dict(node.get("kwargs") or {})} for node in spec["inbound_nodes"]]
        layers.append(out)

    def refs(entries, listed):
        # Keras counts a nested functional model's construction as its node 0 here.
        entries = [[name, node + 1 if name in functional else node, index] for name, node, index in entries]
        return entries if listed else entries[0]

    return {"name": config["name"], "trainable": config.get("trainable", True), "layers": layers,
            "input_layers": refs(config["input_layers"], config.get("inputs_are_list", True)),
            "output_layers": refs(config["output_layers"], config.get("outputs_are_list", True))}


def keras_model_config(model):
    """The model's architecture as Keras 3 writes it in `.keras` and `.h5` files."""
    if _is_functional(model):
        config = {"module": "keras.src.models.functional", "class_name": "Functional",
                  "config": _keras_functional_config(model.get_config()), "registered_name": "Functional"}
    elif type(model).__name__ == "Sequential":
        config = {"module": "keras", "class_name": "Sequential",
                  "config": _keras_sequential_config(model.get_config()), "registered_name": None}
    else:
        raise ValueError(f"Cannot save model '{model.name}' ({type(model).__name__}) with its architecture: only "
                         "Sequential and functional models can be rebuilt from a file. Use save_weights instead.")
    config["build_config"] = {"input_shape": _jsonable(model.input_shape)} if model._graph is not None else None
    return config


def _jsonable(value):
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _serialize_spec(value, kind):
    """A loss or metric given to compile, as JSON (Keras's forms): names stay names, objects become
    {'module', 'class_name', 'config'}, registered functions their name; None when it cannot be written."""
    from cnnkit import losses as losses_module  # noqa: PLC0415
    from cnnkit import metrics as metrics_module  # noqa: PLC0415

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_serialize_spec(v, kind) for v in value]
        return None if any(i is None for i, v in zip(items, value) if v is not None) else items
    if isinstance(value, dict):
        items = {k: _serialize_spec(v, kind) for k, v in value.items()}
        return None if any(items[k] is None for k, v in value.items() if v is not None) else items
    registry = losses_module.LOSSES if kind == "losses" else metrics_module.METRICS
    if hasattr(value, "get_config") and type(value).__name__ in registry:
        return {"module": f"keras.{kind}", "class_name": type(value).__name__, "config": value.get_config(),
                "registered_name": None}
    name = getattr(value, "__name__", None)
    if name and name in registry:
        return name
    return None


def compile_config(model):
    """Keras's compile_config for a compiled cnnkit model, or None (not compiled, or compiled with a loss or
    metric that cannot be written, which is warned about)."""
    from cnnkit import optimizers  # noqa: PLC0415

    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return None
    names = model._output_names()

    def per_output(specs):
        if not any(specs):
            return None
        return list(specs[0]) if len(names) == 1 else dict(zip(names, (list(s) for s in specs)))

    weights = list(model._loss_weights)
    config = {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize_spec(model.loss, "losses"),
        "loss_weights": None if all(w == 1.0 for w in weights) else (weights[0] if len(weights) == 1 else weights),
        "metrics": _serialize_spec(per_output(model._metric_specs), "metrics"),
        "weighted_metrics": _serialize_spec(per_output(model._weighted_specs), "metrics"),
        "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
    }
    unwritable = [key for key, given in (("loss", model.loss), ("metrics", per_output(model._metric_specs)),
                                         ("weighted_metrics", per_output(model._weighted_specs)))
                  if given is not None and config[key] is None]
    if unwritable:
        _warn(f"The model's {' and '.join(unwritable)} cannot be written to the file (a plain function or an "
              "unregistered object); the file holds no compile config, so loading it gives an uncompiled model.")
        return None
    return config


def _clean_object_config(spec):
    """A Keras-written {'class_name', 'config'} for cnnkit: drops options that are None (Keras's "not set")."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        return spec
    config = {k: v for k, v in (spec.get("config") or {}).items() if v is not None}
    return {"class_name": spec["class_name"], "config": config}


def _metric_from_spec(spec):
    from cnnkit import metrics as metrics_module  # noqa: PLC0415

    if isinstance(spec, dict) and "class_name" in spec:
        spec = _clean_object_config(spec)
        return metrics_module.METRICS.lookup(spec["class_name"]).from_config(spec["config"])
    if isinstance(spec, list):
        return [_metric_from_spec(s) for s in spec]
    if isinstance(spec, dict):
        return {k: _metric_from_spec(v) for k, v in spec.items()}
    return spec


def _loss_from_spec(spec):
    from cnnkit import losses as losses_module  # noqa: PLC0415

    if isinstance(spec, dict) and "class_name" in spec:
        return losses_module.get(_clean_object_config(spec))
    if isinstance(spec, list):
        return [_loss_from_spec(s) for s in spec]
    if isinstance(spec, dict):
        return {k: _loss_from_spec(v) for k, v in spec.items()}
    return spec


def _compile_args(config):
    """model.compile arguments from a compile_config (.keras) or training_config (.h5), cnnkit's or Keras's."""
    args = {}
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    if isinstance(optimizer, dict):
        optimizer = _clean_object_config(optimizer)
        options = optimizer["config"]
        if options.pop("use_ema", False):
            _warn("The optimizer in the file uses an exponential moving average of the weights (use_ema=True), "
                  "which cnnkit does not support; training continues without it.")
        for key in ("ema_momentum", "ema_overwrite_frequency"):
            options.pop(key, None)
    if optimizer is not None:
        args["optimizer"] = optimizer
    if config.get("loss") is not None:
        args["loss"] = _loss_from_spec(config["loss"])
    for key in ("metrics", "weighted_metrics"):
        if config.get(key) is not None:
            args[key] = _metric_from_spec(config[key])
    if config.get("loss_weights") is not None:
        args["loss_weights"] = config["loss_weights"]
    return args


# ---- optimizer state ----------------------------------------------------------------------------------------

# Keras creates each optimizer's slots in groups: within a group, every variable gets all of the group's slots in
# turn; the groups follow one another (Adam: m0 v0 m1 v1 ... then the amsgrad v_hats; RMSprop: all velocities,
# then all momentums, then all average gradients). Its files list the state in that order.
_KERAS_SLOT_GROUPS = {
    "Adam": [["momentum", "velocity"], ["velocity_hat"]],
    "AdamW": [["momentum", "velocity"], ["velocity_hat"]],
    "Nadam": [["momentum", "velocity"]],
    "RMSprop": [["velocity"], ["momentum"], ["average_gradient"]],
    "SGD": [["momentum"]],
    "Adagrad": [["accumulator"]],
    "Adadelta": [["accumulated_grad", "accumulated_delta_var"]],
}


def _slot_order(optimizer, count):
    """[(slot name, variable index)] in the order Keras stores the optimizer's slots."""
    slots = list(optimizer.slots())
    groups = [[name for name in group if name in slots]
              for group in _KERAS_SLOT_GROUPS.get(type(optimizer).__name__, [slots])]
    listed = {name for group in groups for name in group}
    groups.append([name for name in slots if name not in listed])
    return [(name, index) for group in groups if group for index in range(count) for name in group]


def _optimizer_state(model):
    """[(Keras-style name, value)]: iteration, learning_rate, then the slots in Keras's order (each in the Keras
    layout of its variable), then Nadam's momentum-schedule product."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "slots"):
        return []
    prefix = optimizer.name
    state = [(f"{prefix}/iteration", np.array(optimizer.iterations, dtype=np.int64)),
             (f"{prefix}/learning_rate", np.array(optimizer.learning_rate, dtype=np.float32))]
    if optimizer._variables is None:
        return state
    refs = {id(ref.tensor): ref for ref in weight_refs(model)}
    slots = optimizer.slots()
    for slot_name, index in _slot_order(optimizer, len(optimizer._variables)):
        ref = refs.get(id(optimizer._variables[index]))
        name = f"{ref.owner.name}_{ref.spec.attr}" if ref is not None else f"variable_{index}"
        to_keras = _LAYOUTS[ref.spec.kind if ref is not None else None][1]
        state.append((f"{prefix}/{name}_{slot_name}", to_keras(slots[slot_name][index].detach().cpu().numpy())))
    if hasattr(optimizer, "u_product"):
        state.append((f"{prefix}/variable", np.array(optimizer.u_product, dtype=np.float32)))
    return state


def _load_optimizer_state(model, values, source):
    """Restores the optimizer from values in `_optimizer_state`'s order (written by cnnkit or Keras); state that
    does not fit (another optimizer, another model) is refused with a warning and the optimizer starts fresh."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not values:
        return
    if len(values) == 2:  # saved before the first training step: only the step count and learning rate
        optimizer.iterations = int(np.asarray(values[0]))
        return
    optimizer.build(list(model.trainable_weights))
    slots = optimizer.slots()
    kinds = {id(ref.tensor): ref.spec.kind for ref in weight_refs(model)}
    order = _slot_order(optimizer, len(optimizer._variables))
    extra = 1 if hasattr(optimizer, "u_product") else 0
    expected = 2 + len(order) + extra
    converted = []
    if len(values) == expected:
        for position, (slot_name, index) in enumerate(order, start=2):
            target = slots[slot_name][index]
            value = np.asarray(values[position])
            if value.size != target.numel():
                break
            value = _LAYOUTS[kinds.get(id(optimizer._variables[index]))][0](value)
            if tuple(value.shape) != tuple(target.shape):
                break
            converted.append((target, value))
    if len(converted) != len(order) or len(values) != expected:
        _warn(f"The optimizer state in {source} ({len(values)} values) does not fit cnnkit's "
              f"{type(optimizer).__name__} for this model ({expected} values); the optimizer starts fresh.")
        optimizer._variables = None
        return
    optimizer.iterations = int(np.asarray(values[0]))
    stored_rate = float(np.asarray(values[1]))
    if not callable(optimizer._learning_rate) and np.float32(optimizer.learning_rate) != np.float32(stored_rate):
        optimizer.learning_rate = stored_rate  # changed during training (ReduceLROnPlateau, a scheduler callback)
    with torch.no_grad():
        for target, value in converted:
            target.copy_(torch.as_tensor(value, dtype=target.dtype))
    if extra:
        optimizer.u_product = float(np.asarray(values[-1]))
    if hasattr(optimizer, "_steps"):
        for step in optimizer._steps:
            step.fill_(float(optimizer.iterations))


def _write_optimizer(group, model):
    """Writes the optimizer state under `group`'s 'optimizer/vars' (the `.keras` layout; BackupAndRestore)."""
    state = _optimizer_state(model)
    if not state:
        return
    variables = group.create_group("optimizer").create_group("vars")
    variables.attrs["name"] = model.optimizer.name
    for i, (_, value) in enumerate(state):
        variables.create_dataset(str(i), data=value)


def _read_optimizer(group, model, source="the file"):
    """Restores the optimizer state written by `_write_optimizer` (or by Keras in a `.keras` archive)."""
    if getattr(model, "optimizer", None) is None or "optimizer/vars" not in group:
        return
    stored = group["optimizer/vars"]
    _load_optimizer_state(model, [np.asarray(stored[str(i)]) for i in range(len(stored))], source)


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


def _read_archive(path, what):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            config = json.loads(archive.read("config.json")) if "config.json" in names else None
            if "model.weights.h5" not in names:
                raise ValueError(f"{what}: {path} is not a valid .keras archive: it holds no model.weights.h5 "
                                 f"(entries: {names}).")
            return config, archive.read("model.weights.h5")
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError, EOFError) as err:
        raise ValueError(f"{what}: {path} is not a valid .keras archive (damaged, truncated, or another kind of "
                         f"file): {err}") from None


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
            _, data = _read_archive(path, "load_weights")
            with h5py.File(io.BytesIO(data), "r") as f:
                read_keras3(f, model, path, skip_mismatch=skip_mismatch)
            return
        with _open_h5(path, "load_weights") as f:
            if "layer_names" in f.attrs:
                read_legacy(f, model, path, by_name, skip_mismatch)
            elif "model_weights" in f and "layer_names" in f["model_weights"].attrs:
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
    state = _optimizer_state(model) if include_optimizer and compiled is not None else []
    if path.endswith(".keras"):
        def write(f):
            write_keras3(f, model)
            if state:
                _write_optimizer(f, model)
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


def load_model(filepath, custom_objects=None, compile=True):
    """Opens a model saved by `model.save` (cnnkit or Keras 3): '.keras', or a tf.keras whole-model '.h5'.

    No code from the file is run: the architecture is rebuilt from its JSON config through cnnkit's layer
    registry. With compile=True a saved compile config compiles the model and restores the optimizer state.

    Raises:
        ValueError: another suffix, a damaged or foreign file, a weights-only file, or a layer option cnnkit
            cannot honour (named with the layer).
        FileNotFoundError: no file at `filepath`.
    """
    path = os.fspath(filepath)
    _check_suffix(path, "load_model", MODEL_SUFFIXES)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: no such file: {path}")
    try:
        if path.endswith(".keras"):
            return _load_keras_archive(path, compile)
        with _open_h5(path, "load_model") as f:
            return _load_legacy_model(f, path, compile)
    except _READ_ERRORS as err:
        raise ValueError(f"load_model: {path} is damaged or not a Keras model file: {type(err).__name__}: "
                         f"{err}") from None


def _model_from_file_config(config, path):
    from cnnkit.models.model import model_from_config  # noqa: PLC0415 (model.py imports this module)

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"load_model: {path} holds no model architecture (config).")
    return model_from_config(config)


def _load_keras_archive(path, compile):
    config, weights = _read_archive(path, "load_model")
    if config is None:
        raise ValueError(f"load_model: {path} is not a valid .keras archive: it holds no config.json.")
    model = _model_from_file_config(config, path)
    compiled = config.get("compile_config")
    if compile and compiled:
        model.compile(**_compile_args(compiled))
    with h5py.File(io.BytesIO(weights), "r") as f:
        read_keras3(f, model, path)
        if compile and compiled:
            _read_optimizer(f, model, path)
    return model


def _load_legacy_model(f, path, compile):
    if "model_config" not in f.attrs:
        raise ValueError(f"load_model: {path} holds weights only (no model_config); build the model and call "
                         "model.load_weights(path).")
    model = _model_from_file_config(json.loads(_text(f.attrs["model_config"])), path)
    if "model_weights" not in f:
        raise ValueError(f"load_model: {path} is damaged: it has a model_config but no model_weights group.")
    read_legacy(f["model_weights"], model, path)
    if compile and "training_config" in f.attrs:
        model.compile(**_compile_args(json.loads(_text(f.attrs["training_config"]))))
        name = next((n for n in (LEGACY_OPTIMIZER_GROUP, "optimizer_weights") if n in f), None)
        if name is not None:
            group = f[name]
            names = [_text(n) for n in group.attrs.get("weight_names", [])]
            _load_optimizer_state(model, [np.asarray(group[n]) for n in names], path)
    return model
