"""`clone_model` (Keras 3's `keras.models.clone_model`), `Model.to_json` and `model_from_json`.

A clone has the same architecture and configs as the original and new, freshly initialized weights (copy them with
`clone.set_weights(model.get_weights())`). A compiled model's clone is compiled with the same compile config.

Example:
    >>> clone = clone_model(model)
    >>> clone.set_weights(model.get_weights())
    >>> same = model_from_json(model.to_json())
"""

import json

from cnnkit.layers.input_layer import Input
from cnnkit.layers.input_layer import InputLayer
from cnnkit.layers.node import SymbolicTensor
from cnnkit.layers.node import flatten
from cnnkit.models.functional import Functional
from cnnkit.models.keras_config import compile_args
from cnnkit.models.keras_config import compile_config
from cnnkit.models.keras_config import keras_model_config
from cnnkit.models.sequential import Sequential
from cnnkit.saving.serialization_lib import deserialize_keras_object


def _default_clone(layer):
    return layer.__class__.from_config(layer.get_config())


def _compile_like(clone, model):
    config = compile_config(model) if getattr(model, "compiled", False) else None
    if config is not None:
        clone.compile(**compile_args(config))
    return clone


def _wrap(clone_function, call_function, recursive, cache):
    clone_function = clone_function or _default_clone
    if not callable(clone_function):
        raise ValueError(f"Expected `clone_function` argument to be a callable. Received: "
                         f"clone_function={clone_function}")

    def wrapped(layer):
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, Functional):
            clone = clone_model(layer, clone_function=clone_function,
                                call_function=None if isinstance(layer, Sequential) else call_function,
                                recursive=True, cache=cache)
        else:
            clone = clone_function(layer)
        cache[id(layer)] = clone
        return clone

    return wrapped


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with the architecture of `model` (Sequential or functional) and new weights.

    Args:
        model: a Sequential or functional model.
        input_tensors: symbolic tensors (from `Input`) to build the clone on, in the structure of `model.input`;
            default: new Inputs like the model's.
        clone_function: `fn(layer) -> layer` making each layer's copy; default
            `layer.__class__.from_config(layer.get_config())`. Return the layer itself to share it.
        call_function: functional models only: `fn(layer, *args, **kwargs)` that calls each cloned layer in the
            new graph (to insert layers around it, for instance); default: the layer's call.
        recursive: also clone the layers of nested models one by one (with `clone_function`), instead of passing
            each nested model to `clone_function` whole.

    Returns:
        A Sequential model for a Sequential one, else a functional model; compiled as `model` was.

    Raises:
        ValueError: another kind of model with `clone_function` or `input_tensors`, `call_function` with a
            Sequential model, input tensors that are not symbolic or not in the structure of `model.input`.
    """
    cache = kwargs.pop("cache", None)
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {tuple(kwargs.keys())}")
    cache = {} if cache is None else cache
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError("`call_function` argument is not supported with Sequential models.  In a Sequential "
                             "model, layers aren't called at model-construction time (they're merely listed). Use "
                             "`call_function` with Functional models only. Received model of type "
                             f"'{type(model).__name__}', with call_function={call_function}")
        return _compile_like(_clone_sequential(model, _wrap(clone_function, None, recursive, cache),
                                               input_tensors), model)
    if isinstance(model, Functional) and model.built:
        return _compile_like(_clone_functional(model, _wrap(clone_function, call_function, recursive, cache),
                                               call_function, input_tensors), model)
    if clone_function or input_tensors is not None or call_function is not None:
        raise ValueError("Arguments `clone_function`, `call_function` and `input_tensors` are only supported for "
                         f"Sequential models or Functional models. Received model of type '{type(model).__name__}'")
    return deserialize_keras_object(keras_model_config(model), custom_objects={type(model).__name__: type(model)})


def _clone_sequential(model, clone_function, input_tensors):
    """A Sequential clone; on `input_tensors` that are not an `Input` (a layer's output), a functional model."""
    layers = [clone_function(layer) for layer in model.layers]
    if input_tensors is None:
        first = model._input_layer
        if first is not None:
            layers.insert(0, Input(batch_shape=first.batch_shape, dtype=first.dtype_name, name=first.name))
        return Sequential(layers, name=model.name, trainable=model.trainable)
    if isinstance(input_tensors, (list, tuple)):
        if len(input_tensors) != 1:
            raise ValueError("Argument `input_tensors` must contain a single tensor.")
        input_tensors = input_tensors[0]
    if not isinstance(input_tensors, SymbolicTensor):
        raise ValueError("Argument `input_tensors` must be a symbolic tensor (from Input). Received invalid value: "
                         f"input_tensors={input_tensors!r}")
    if isinstance(input_tensors.history[0], InputLayer):
        return Sequential([input_tensors, *layers], name=model.name, trainable=model.trainable)
    x = input_tensors
    for layer in layers:
        x = layer(x)
    return Functional(input_tensors, x, name=model.name, trainable=model.trainable)


def _clone_functional(model, clone_function, call_function, input_tensors):
    if input_tensors is not None:
        given, _ = flatten(input_tensors)
        if not all(isinstance(t, SymbolicTensor) for t in given):
            raise ValueError("All entries in `input_tensors` must be symbolic tensors (from Input). Received invalid "
                             f"values: input_tensors={input_tensors!r}")
        if len(given) != len(model.inputs):
            raise ValueError(f"`input_tensors` must have the same structure as model.input. Reference structure: "
                             f"{model.input}. Received structure: {input_tensors}")
    else:
        given = [Input(batch_shape=t.shape, dtype=t.dtype, name=t.node.layer.name) for t in model.inputs]
    tensors = {id(old): new for old, new in zip(model.inputs, given)}
    for node in model.nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        args = [tensors[id(t)] for t in node.inputs]
        args = args if node.input_is_list else args[0]
        if layer.is_operation:  # Keras 3's `x + 3.0`: a graph operation, not a layer; its operands are kept
            new = type(layer)(arguments=layer.arguments, name=layer.name)
            out = new(args)
        else:
            new = clone_function(layer)
            out = call_function(new, args, **node.call_kwargs) if call_function else new(args, **node.call_kwargs)
        outs, _ = flatten(out)
        tensors.update((id(old), t) for old, t in zip(node.outputs, outs))
    inputs = given if model._inputs_list else given[0]
    outputs = [tensors[id(t)] for t in model.outputs]
    return Functional(inputs, outputs if model._outputs_list else outputs[0], name=model.name,
                      trainable=model.trainable)


def model_config(model):
    """What Keras's `serialize_keras_object(model)` gives: the model's config with its build config and, when
    compiled, its compile config."""
    config = keras_model_config(model)
    compiled = compile_config(model) if getattr(model, "compiled", False) else None
    if compiled is not None:
        config["compile_config"] = compiled
    return config


def model_to_json(model, **kwargs):
    """The model's config as a JSON string, in Keras 3's form (`json.dumps` keyword arguments in `kwargs`)."""
    return json.dumps(model_config(model), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model (new weights) from the JSON of `model.to_json()`, cnnkit's or Keras's.

    Args:
        json_string: the JSON text.
        custom_objects: {name: class or function} for custom layers and functions that are not registered.

    Raises:
        ValueError: text that is not JSON or not a model config.
    """
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"model_from_json: json_string is not valid JSON ({err}).") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: the JSON does not describe a model (no 'class_name').")
    return deserialize_keras_object(config, custom_objects=custom_objects)  # compiled when it holds a compile config
