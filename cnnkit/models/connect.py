"""`connect(inputs, outputs)`: the tensors a functional model is built on, made to meet.

A model can be cut out of any tensors, as in Keras 3:
- an input that is an intermediate tensor (not from `Input`) gets a new `Input` of its shape, and the layer calls
  between it and the outputs are recorded again on that input (Keras's `clone_graph_nodes`), so that
  `Model(backbone.get_layer('conv4_block6_out').output, backbone.output)` is the backbone's top;
- an output (or input) inside a nested model is reached through that model's call in the outer graph: when a
  path from an output ends at a nested model's own `Input`, the nested model's call that is connected to the
  outer inputs is opened, its layers are recorded again on the call's inputs (its `training=` argument carried
  over), and the outputs of that call become those of the opened layers, so the nested model runs once. So
  `Model(model.input, model.get_layer('resnet50').get_layer('conv5_block3_out').output)` works for the notes'
  transfer-learning model (a ResNet50 inside a Sequential), where Keras reports a disconnected graph.

When neither happens (the usual case), the tensors are returned unchanged and nothing is recorded.
"""

import weakref

from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import flatten
from cnnkit.utils.naming import unique_name

# InputLayer -> the models built on it (so that a nested model's own inputs can be traced to its calls).
_INPUT_OWNERS = weakref.WeakKeyDictionary()


def get_source_inputs(tensor):
    """The Input tensors that `tensor` is computed from, in walk order (Keras's `get_source_inputs`)."""
    sources, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if _is_input(t):
            sources.append(t)
        else:
            stack.extend(reversed(t.node.inputs))
    return sources


def register_inputs(model, inputs):
    """Records that `model`'s graph starts at the Input tensors `inputs`."""
    for tensor in inputs:
        _INPUT_OWNERS.setdefault(tensor.node.layer, weakref.WeakSet()).add(model)


def _is_input(tensor):
    return isinstance(tensor.node.layer, InputLayer)


def _walk_back(tensors, stop_ids, at_input):
    """Visits every tensor on the paths back from `tensors` once, not going past `stop_ids`; at an Input tensor
    outside them, goes on from the tensors `at_input(tensor)` returns."""
    stack, seen = list(tensors), set()
    while stack:
        t = stack.pop()
        if id(t) in stop_ids or id(t) in seen:
            continue
        seen.add(id(t))
        stack.extend(at_input(t) if _is_input(t) else t.node.inputs)


class _Unreached(Exception):
    pass


def _plainly_reaches(tensors, input_ids):
    """Whether every path back from `tensors` ends at one of `input_ids` without opening a nested model."""
    def stop(tensor):
        raise _Unreached

    try:
        _walk_back(tensors, input_ids, stop)
    except _Unreached:
        return False
    return True


def disconnected(tensor, inputs):
    """The error for a tensor that no path from `inputs` computes."""
    names = [t.name for t in inputs]
    return ValueError(f"Graph disconnected: cannot obtain the value of tensor {tensor!r} (input layer "
                      f"'{tensor.node.layer.name}'). The model's inputs are {names}; pass this one in `inputs` too.")


def _opening(tensor, inputs, input_ids):
    """(model, call node) for a nested model's Input tensor: the one call of a model built on it whose inputs lead
    to `inputs`."""
    owners = [m for m in _INPUT_OWNERS.get(tensor.node.layer, ()) if any(t is tensor for t in m.inputs)]
    calls = [(m, node) for m in owners for node in m.inbound_nodes]
    if not calls:
        raise disconnected(tensor, inputs)
    if len(calls) > 1:
        calls = [(m, node) for m, node in calls if _plainly_reaches(node.inputs, input_ids)] or calls
    if len(calls) > 1:
        names = sorted({m.name for m, _ in calls})
        raise ValueError(f"Cannot reach tensor {tensor!r} from the inputs: the model(s) {names} built on it are "
                         f"called {len(calls)} times, so it stands for several tensors. Build the sub-model from "
                         "tensors of one call.")
    return calls[0]


def _plan(inputs, outputs):
    """({id(nested Input tensor): outer tensor}, {node id: opened call node}) needed to reach `outputs`."""
    input_ids = {id(t) for t in inputs}
    aliases, opened = {}, {}

    def open_call(tensor):
        model, node = _opening(tensor, inputs, input_ids)
        opened[node.id] = node
        aliases.update((id(inner), outer) for inner, outer in zip(model.inputs, node.inputs))
        return node.inputs

    _walk_back(outputs, input_ids, open_call)
    return aliases, opened


def _training_overrides(opened):
    """{node id: training value} for the layer calls inside opened calls that carry `training=`."""
    overrides = {}
    for _ in range(len(opened)):  # a call opened inside another one inherits its value: one round per level
        changed = False
        for call in opened.values():
            value = call.call_kwargs.get("training", overrides.get(call.id))
            if value is None:
                continue
            for node in call.layer.nodes:
                if overrides.get(node.id) != value and "training" not in node.call_kwargs:
                    overrides[node.id], changed = value, True
        if not changed:
            break
    return overrides


def _clone_input(tensor):
    layer = InputLayer(batch_shape=tensor.shape, dtype=tensor.dtype, name=unique_name(f"{tensor.name}_input"))
    return layer.output


def connect(inputs, outputs):
    """(inputs, outputs) lists of tensors for `Graph`: every input an `Input` tensor and every output reached from
    the inputs through recorded calls (see the module docstring). Raises ValueError for a disconnected graph."""
    aliases, opened = _plan(inputs, outputs)
    if not opened and all(_is_input(t) for t in inputs):
        return list(inputs), list(outputs)
    overrides = _training_overrides(opened)
    memo = {id(t): (t if _is_input(t) else _clone_input(t)) for t in inputs}
    stack = list(outputs)
    while stack:
        t = stack[-1]
        if id(t) in memo:
            stack.pop()
            continue
        node = t.node
        if id(t) in aliases or node.id in opened:  # a nested Input, or an opened call's output
            source = aliases[id(t)] if id(t) in aliases else node.layer.outputs[t.history[2]]
            if id(source) in memo:
                memo[id(t)] = memo[id(source)]
                stack.pop()
            else:
                stack.append(source)
            continue
        pending = [x for x in node.inputs if id(x) not in memo]
        if pending:
            stack.extend(pending)
            continue
        args = [memo[id(x)] for x in node.inputs]
        kwargs = dict(node.call_kwargs)
        if node.id in overrides:
            kwargs["training"] = overrides[node.id]
        if kwargs == node.call_kwargs and all(a is x for a, x in zip(args, node.inputs)):
            new = node.outputs
        else:
            new = flatten(node.layer(args if node.input_is_list else args[0], **kwargs))[0]
        memo.update((id(old), value) for old, value in zip(node.outputs, new))
        stack.pop()
    return [memo[id(t)] for t in inputs], [memo[id(t)] for t in outputs]
