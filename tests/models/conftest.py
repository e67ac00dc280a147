"""Architectures written once and built with either library, plus helpers shared by the model tests.

Each builder takes a "kit" (the `cnnkit` package or the `keras` package: both have `.layers` and `.models` with
the same names) so the same code builds the cnnkit model and its Keras oracle.
"""

import re
import types

import numpy as np
import pytest

# ---- architectures ------------------------------------------------------------------------------------------


def mnist_convnet(k, classifier=True):
    """Seed 002's small convnet (320 / 18,496 / 36,928 params), optionally with its Dense classifier."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.Conv2D(filters=32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(L.MaxPooling2D(pool_size=(2, 2)))
    model.add(L.Conv2D(filters=64, kernel_size=(3, 3), activation="relu"))
    model.add(L.MaxPooling2D(pool_size=(2, 2)))
    model.add(L.Conv2D(filters=64, kernel_size=(3, 3), activation="relu"))
    if classifier:
        model.add(L.Flatten())
        model.add(L.Dense(units=64, activation="relu"))
        model.add(L.Dense(10, activation="softmax"))
    return model


def cifar_functional(k):
    """Seed 003's CIFAR-10 functional model."""
    L = k.layers
    input_layer = L.Input(shape=(32, 32, 3))
    x = L.Conv2D(32, (3, 3), activation="relu")(input_layer)
    x = L.MaxPooling2D((2, 2))(x)
    x = L.Conv2D(64, (3, 3), activation="relu")(x)
    x = L.MaxPooling2D((2, 2))(x)
    x = L.Conv2D(64, (3, 3), activation="relu")(x)
    x = L.Flatten()(x)
    x = L.Dense(64, activation="relu")(x)
    output_layer = L.Dense(10, activation="softmax")(x)
    return k.models.Model(inputs=input_layer, outputs=output_layer)


def branchy(k):
    """A small two-output graph: ZeroPadding2D, strided valid and 'same' convs, BatchNormalization, Add,
    Concatenate, max/avg pooling with 'same' and strides, global pooling, Dense.

    The shortcut branch is created before the main branch, as in ResNet, so creation order and Keras's layer
    order differ.
    """
    L = k.layers
    inputs = L.Input(shape=(15, 13, 3), name="image")
    shortcut = L.Conv2D(8, 1, strides=2, padding="same", name="shortcut_conv")(inputs)
    x = L.ZeroPadding2D(((1, 2), (1, 1)), name="pad")(inputs)
    x = L.Conv2D(8, 3, strides=2, use_bias=False, name="main_conv")(x)
    x = L.BatchNormalization(name="main_bn")(x)
    x = L.Activation("relu")(x)
    x = L.Conv2D(8, (3, 2), padding="same", activation="tanh", name="main_conv2")(x)
    added = L.Add(name="add")([shortcut, x])
    joined = L.Concatenate(name="concat")([added, shortcut])
    pooled_max = L.MaxPooling2D(3, strides=2, padding="same")(joined)
    pooled_avg = L.AveragePooling2D(2, strides=1, padding="same")(joined)
    pooled_avg = L.AveragePooling2D(2, padding="same")(pooled_avg)
    head = L.Concatenate(axis=-1)([pooled_max, pooled_avg])
    head = L.BatchNormalization(name="head_bn")(head)
    features = L.GlobalAveragePooling2D()(head)
    probs = L.Dense(5, activation="softmax", name="probs")(features)
    flat = L.Dense(3, name="flat_dense")(L.Flatten()(pooled_max))
    return k.models.Model(inputs, [probs, flat], name="branchy")


def lenet(k):
    """Seed 000's LeNet."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.Conv2D(6, (5, 5), padding="same", activation="tanh", input_shape=(28, 28, 1)))
    model.add(L.AvgPool2D(pool_size=(2, 2)))
    model.add(L.Conv2D(16, (5, 5), padding="valid", activation="tanh"))
    model.add(L.AvgPool2D(pool_size=(2, 2)))
    model.add(L.Flatten())
    model.add(L.Dense(120, activation="tanh"))
    model.add(L.Dense(84, activation="tanh"))
    model.add(L.Dense(10, activation="softmax"))
    return model


def resnet50(k, include_top=True, input_shape=(224, 224, 3), classes=1000):
    """ResNet50 v1 as keras.applications.ResNet50 builds it (same layers, names and order)."""
    L = k.layers

    def bn(name):
        return L.BatchNormalization(axis=3, epsilon=1.001e-5, name=name)

    def block(x, filters, stride=1, conv_shortcut=True, name=None):
        if conv_shortcut:
            shortcut = L.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
            shortcut = bn(f"{name}_0_bn")(shortcut)
        else:
            shortcut = x
        x = L.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
        x = L.Activation("relu", name=f"{name}_1_relu")(bn(f"{name}_1_bn")(x))
        x = L.Conv2D(filters, 3, padding="SAME", name=f"{name}_2_conv")(x)
        x = L.Activation("relu", name=f"{name}_2_relu")(bn(f"{name}_2_bn")(x))
        x = L.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
        x = bn(f"{name}_3_bn")(x)
        x = L.Add(name=f"{name}_add")([shortcut, x])
        return L.Activation("relu", name=f"{name}_out")(x)

    def stack(x, filters, blocks, stride1=2, name=None):
        x = block(x, filters, stride=stride1, name=f"{name}_block1")
        for i in range(2, blocks + 1):
            x = block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
        return x

    inputs = L.Input(shape=input_shape)
    x = L.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = L.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = L.Activation("relu", name="conv1_relu")(bn("conv1_bn")(x))
    x = L.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack(x, 64, 3, stride1=1, name="conv2")
    x = stack(x, 128, 4, name="conv3")
    x = stack(x, 256, 6, name="conv4")
    x = stack(x, 512, 3, name="conv5")
    if include_top:
        x = L.GlobalAveragePooling2D(name="avg_pool")(x)
        x = L.Dense(classes, activation="softmax", name="predictions")(x)
    return k.models.Model(inputs, x, name="resnet50")


# ---- helpers ------------------------------------------------------------------------------------------------


def randomize_keras_weights(model, seed=0):
    """Gives every Keras weight non-trivial values: random biases and BatchNormalization statistics too."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.path
        if "moving_variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape))
        elif "gamma" in name:
            values.append(rng.uniform(0.5, 1.5, shape))
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            values.append(rng.normal(0.0, 0.3, shape))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            values.append(rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape))
    model.set_weights([v.astype(np.float32) for v in values])


def param_counts(model):
    """(total, trainable, non-trainable) from a model's weight lists (works for Keras and cnnkit)."""
    def size(weights):
        return int(sum(np.prod(tuple(w.shape)) for w in weights))
    return size(model.weights), size(model.trainable_weights), size(model.non_trainable_weights)


def output_shapes(model):
    """Each layer's output shape(s) as tuples, in model.layers order."""
    def shape(t):
        return tuple(t.shape)
    return [[shape(t) for t in layer.output] if isinstance(layer.output, list) else shape(layer.output)
            for layer in model.layers]


def parse_summary(text):
    """(model name, rows, totals) from a printed Keras-style summary; wrapped cells are joined with spaces."""
    lines = text.splitlines()
    name = re.match(r'Model: "(.*)"', lines[0].strip()).group(1)
    rows, current = [], None
    for line in lines:
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            if current is None:
                current = [[] for _ in cells]
            for parts, cell in zip(current, cells):
                if cell:
                    parts.append(cell)
        elif current is not None and line[:1] in ("├", "└"):
            rows.append([" ".join(parts) for parts in current])
            current = None
    totals = {key: int(value.replace(",", "")) for key, value in
              re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", text)}
    return name, rows, totals


def summary_text(model, **kwargs):
    lines = []
    model.summary(print_fn=lambda line, *args, **kw: lines.append(line), **kwargs)
    return "\n".join(lines)


@pytest.fixture
def zoo():
    """The builders and helpers above, for the test modules of this folder."""
    return types.SimpleNamespace(
        mnist_convnet=mnist_convnet, cifar_functional=cifar_functional, branchy=branchy, lenet=lenet,
        resnet50=resnet50, randomize_keras_weights=randomize_keras_weights, param_counts=param_counts,
        output_shapes=output_shapes, parse_summary=parse_summary, summary_text=summary_text,
    )


@pytest.fixture
def fresh_keras(keras):
    """Keras with its name counters reset (so its layers are named conv2d, conv2d_1, ... like cnnkit's)."""
    keras.backend.clear_session()
    return keras


@pytest.fixture
def wide_terminal(monkeypatch):
    """A wide terminal, so that Keras's rich table is not cropped at 80 columns and nothing wraps."""
    monkeypatch.setenv("COLUMNS", "250")
