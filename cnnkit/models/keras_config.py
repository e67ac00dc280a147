"""Model and compile configs in Keras 3's form (so Keras opens cnnkit's files and the reverse), and optimizer
state in Keras's variable order."""

import h5py
import numpy as np
import torch

from cnnkit.layers.serialization import serialize
from cnnkit.models.functional import Functional
from cnnkit.models.h5_weights import warn
from cnnkit.models.h5_weights import weight_refs
from cnnkit.models.untrusted import child
from cnnkit.models.untrusted import read_dataset
from cnnkit.ops import layout
from cnnkit.saving import object_registration
from cnnkit.saving.serialization_lib import deserialize_keras_object
from cnnkit.saving.serialization_lib import serialize_keras_object


# ---- configs in Keras 3's form -----------------------------------------------------------------------------


def keras_model_config(model):
    """The model's architecture as Keras 3 writes it in `.keras` and `.h5` files (models write Keras's form)."""
    if not isinstance(model, Functional):
        raise ValueError(f"Cannot save model '{model.name}' ({type(model).__name__}) with its architecture: only "
                         "Sequential and functional models can be rebuilt from a file. Use save_weights instead.")
    config = serialize(model)
    config["build_config"] = {"input_shape": model.input_shape} if model.built else None
    return config


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
    if object_registration.is_registered(value) or object_registration.is_registered(type(value)):
        return serialize_keras_object(value)  # a custom loss or metric (class or function) registered for saving
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
        warn(f"The model's {' and '.join(unwritable)} cannot be written to the file (a plain function or an "
              "unregistered object); the file holds no compile config, so loading it gives an uncompiled model.")
        return None
    return config


def _clean_object_config(spec):
    """A Keras-written {'class_name', 'config'} for cnnkit: drops options that are None (Keras's "not set")."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        return spec
    config = {k: v for k, v in (spec.get("config") or {}).items() if v is not None}
    return {"class_name": spec["class_name"], "config": config}


def _is_custom_spec(spec):
    """A registered custom object's or function's config (Keras's form), read through the registry."""
    module = spec.get("module")
    return spec.get("class_name") == "function" or bool(
        spec.get("registered_name") and module and not str(module).startswith("keras"))


def _metric_from_spec(spec):
    from cnnkit import metrics as metrics_module  # noqa: PLC0415

    if isinstance(spec, dict) and "class_name" in spec and _is_custom_spec(spec):
        return metrics_module.get(deserialize_keras_object(spec))
    if isinstance(spec, dict) and "class_name" in spec:  # every option kept: None is meaningful for some
        return metrics_module.deserialize(spec)  # (R2Score's class_aggregation, F1Score's average)
    if isinstance(spec, list):
        return [_metric_from_spec(s) for s in spec]
    if isinstance(spec, dict):
        return {k: _metric_from_spec(v) for k, v in spec.items()}
    return spec


def _loss_from_spec(spec):
    from cnnkit import losses as losses_module  # noqa: PLC0415

    if isinstance(spec, dict) and "class_name" in spec and _is_custom_spec(spec):
        return losses_module.get(deserialize_keras_object(spec))
    if isinstance(spec, dict) and "class_name" in spec:
        return losses_module.get(_clean_object_config(spec))
    if isinstance(spec, list):
        return [_loss_from_spec(s) for s in spec]
    if isinstance(spec, dict):
        return {k: _loss_from_spec(v) for k, v in spec.items()}
    return spec


def compile_args(config):
    """model.compile arguments from a compile_config (.keras) or training_config (.h5), cnnkit's or Keras's."""
    args = {}
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    if isinstance(optimizer, dict):
        optimizer = _clean_object_config(optimizer)
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
    "Adamax": [["momentum", "norm"]],
    "Ftrl": [["accumulator", "linear"]],
    "Lamb": [["momentum", "velocity"]],
    "Lion": [["momentum"]],
    "Adafactor": [["r", "c", "velocity"]],
}


def _slot_order(optimizer, count):
    """[(slot name, variable index)] in the order Keras stores the optimizer's slots."""
    slots = list(optimizer.state_slots())
    own = [name for name in slots if name != "average"]
    # the moving averages (use_ema=True) come first: Keras's base `build` creates them before the subclass's slots
    groups = [["average"], *_KERAS_SLOT_GROUPS.get(type(optimizer).__name__, [own])]
    groups = [[name for name in group if name in slots] for group in groups]
    listed = {name for group in groups for name in group}
    groups.append([name for name in slots if name not in listed])
    return [(name, index) for group in groups if group for index in range(count) for name in group]


def optimizer_state(model):
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
    slots = optimizer.state_slots()
    for slot_name, index in _slot_order(optimizer, len(optimizer._variables)):
        ref = refs.get(id(optimizer._variables[index]))
        name = f"{ref.owner.name}_{ref.spec.attr}" if ref is not None else f"variable_{index}"
        value = slots[slot_name][index].detach().cpu().numpy()
        if value.ndim == optimizer._variables[index].dim():  # shaped like its variable (Adafactor's rows and
            value = layout.WEIGHT_LAYOUTS[ref.spec.kind if ref is not None else None][1](value)  # columns: Keras's)
        state.append((f"{prefix}/{name}_{slot_name}", value))
    if hasattr(optimizer, "u_product"):
        state.append((f"{prefix}/variable", np.array(optimizer.u_product, dtype=np.float32)))
    return state


def load_optimizer_state(model, values, source):
    """Restores the optimizer from values in `optimizer_state`'s order (written by cnnkit or Keras); state that
    does not fit (another optimizer, another model) is refused with a warning and the optimizer starts fresh."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not values:
        return
    if len(values) == 2:  # saved before the first training step: only the step count and learning rate
        optimizer.iterations = int(np.asarray(values[0]))
        return
    kinds = {id(ref.tensor): ref.spec.kind for ref in weight_refs(model)}
    if optimizer.needs_weight_layouts:
        optimizer.set_weight_layouts(kinds)
    optimizer.build(list(model.trainable_weights))
    slots = optimizer.state_slots()
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
            if value.ndim == optimizer._variables[index].dim():
                value = layout.WEIGHT_LAYOUTS[kinds.get(id(optimizer._variables[index]))][0](value)
            if tuple(value.shape) != tuple(target.shape):
                break
            converted.append((target, value))
    if len(converted) != len(order) or len(values) != expected:
        warn(f"The optimizer state in {source} ({len(values)} values) does not fit cnnkit's "
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


def write_optimizer(group, model):
    """Writes the optimizer state under `group`'s 'optimizer/vars' (the `.keras` layout; BackupAndRestore)."""
    state = optimizer_state(model)
    if not state:
        return
    variables = group.create_group("optimizer").create_group("vars")
    variables.attrs["name"] = model.optimizer.name
    for i, (_, value) in enumerate(state):
        variables.create_dataset(str(i), data=value)


def read_state_values(group, names, model, source):
    """The datasets `names` of `group` (optimizer state), each checked before it is read: stored in the file,
    numeric, and no larger than the model's largest weight in float64 (every optimizer value is a scalar or
    the size of a weight)."""
    limit = max([8 * int(np.prod(ref.spec.keras_shape)) for ref in weight_refs(model)] + [64])
    if len(names) > 16 * len(weight_refs(model)) + 16:
        raise ValueError(f"{source}: the optimizer state lists {len(names)} values, far more than this model's "
                         "optimizer can hold; refused.")
    values = []
    for name in names:
        dset = child(group, name, source, h5py.Dataset)
        if dset is None:
            raise ValueError(f"{source} is damaged: the optimizer state lists '{name}', which it does not hold.")
        values.append(read_dataset(dset, source, max_bytes=limit))
    return values


def read_optimizer(group, model, source="the file"):
    """Restores the optimizer state written by `write_optimizer` (or by Keras in a `.keras` archive)."""
    if getattr(model, "optimizer", None) is None:
        return
    optimizer = child(group, "optimizer", source, h5py.Group)
    stored = child(optimizer, "vars", source, h5py.Group) if optimizer is not None else None
    if stored is None:
        return
    load_optimizer_state(model, read_state_values(stored, [str(i) for i in range(len(stored))], model, source),
                         source)
