"""The seeds' model-definition code, run with only the module name changed to cnnkit.

Each code block below is copied from /work/shared/seeds (the file is named in the comment above it). `to_cnnkit`
changes the module name (tensorflow.keras / tf.keras / keras -> cnnkit), exactly the one edit the notes promise;
`to_keras` turns the same text into the Keras 3 oracle. Training lines (compile / fit / evaluate) are left out:
they need `compile`, which cnnkit does not have yet. The data sets (mnist / cifar10 downloads) are replaced by
random arrays of the same shapes.
"""

import re

import numpy as np
import pytest

import cnnkit
from cnnkit.ops import convolve2d

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def to_cnnkit(code):
    code = code.replace("import tensorflow as tf", "import cnnkit")
    code = code.replace("tensorflow.keras", "cnnkit").replace("tf.keras", "cnnkit")
    return re.sub(r"\bkeras\b", "cnnkit", code)


def to_keras(code):
    code = code.replace("import tensorflow as tf", "import keras")
    return code.replace("tensorflow.keras", "keras").replace("tf.keras", "keras")


def run(code, kit="cnnkit", **names):
    """Executes a seed block (after the module-name change) and returns its namespace."""
    namespace = {"np": np, **names}
    exec(to_cnnkit(code) if kit == "cnnkit" else to_keras(code), namespace)  # noqa: S102 (the seeds' own code)
    return namespace


def summary_rows(model):
    lines = []
    model.summary(print_fn=lambda text, *a, **k: lines.append(text), line_length=200)
    text = "\n".join(lines)
    rows = [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.startswith("│")]
    totals = re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", text)
    return rows, totals


@pytest.fixture
def wide(monkeypatch, keras):
    monkeypatch.setenv("COLUMNS", "250")
    keras.backend.clear_session()


# ---- seed 000: chapter summary ------------------------------------------------------------------------------

# 000_1b579fb7c50ef3cf.txt, "Convolutional Layers in Keras" (the placeholder `Dense(...)` becomes Dense(10)).
SEED_000_CONV_FLATTEN = """
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Conv2D, Flatten, Dense

model = Sequential()

# this tensor has a size of (None, 32, 32, 3)
# the first dimension defines different objects
# it's set to None because the size of the batch is unknown

model.add(Conv2D(filters=4, kernel_size=(3, 3), input_shape=(32, 32, 3)))

# this tensor has a size of (None, 30, 30, 4)

model.add(Flatten())

# this tensor has a size of (None, 3600)
# где 3600 = 30 * 30 * 4

model.add(Dense(10))
"""

# 000_1b579fb7c50ef3cf.txt, "LeNet Architecture" (the imports come from the earlier blocks of the notes; the
# `model.compile(...)` line is left out).
SEED_000_LENET = """
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Conv2D, Flatten, Dense, AvgPool2D

model = Sequential()

model.add(Conv2D(6, (5, 5), padding='same', activation='tanh',
                 input_shape=(28, 28, 1)))
model.add(AvgPool2D(pool_size=(2, 2)))

model.add(Conv2D(16, (5, 5), padding='valid', activation='tanh'))
model.add(AvgPool2D(pool_size=(2, 2)))

model.add(Flatten())
model.add(Dense(120, activation='tanh'))

model.add(Dense(84, activation='tanh'))

model.add(Dense(10, activation='softmax'))

model.summary()
"""

# 000_1b579fb7c50ef3cf.txt, "ResNet in Keras": the classifier put on top of a backbone. The backbone here is a
# small functional model standing in for ResNet50 (cnnkit has no `applications` module to import it from).
SEED_000_FROZEN_BACKBONE = """
from tensorflow.keras.layers import GlobalAveragePooling2D, Dense
from tensorflow.keras.models import Sequential

# freeze ResNet50 with the top removed
backbone.trainable = False

model = Sequential()
model.add(backbone)
model.add(GlobalAveragePooling2D())
model.add(Dense(12, activation='softmax'))
"""


def test_seed_000_conv_flatten_dense(rng):
    ns = run(SEED_000_CONV_FLATTEN)
    model = ns["model"]
    assert model.layers[0].output_shape == (None, 30, 30, 4)
    assert model.layers[1].output_shape == (None, 3600)
    assert model.predict(rng.uniform(size=(2, 32, 32, 3))).shape == (2, 10)


def test_seed_000_lenet(keras, wide, capsys, rng):
    model = run(SEED_000_LENET)["model"]
    printed = capsys.readouterr().out
    assert 'Model: "sequential"' in printed and "Total params: 61,706" in printed
    theirs = run(SEED_000_LENET, kit="keras")["model"]
    capsys.readouterr()
    assert [layer.output.shape for layer in model.layers] == [layer.output.shape for layer in theirs.layers]
    assert [layer.count_params() for layer in model.layers] == [layer.count_params() for layer in theirs.layers]
    assert [layer.count_params() for layer in model.layers] == [156, 0, 2416, 0, 0, 48120, 10164, 850]
    assert [layer.output_shape for layer in model.layers] == [
        (None, 28, 28, 6), (None, 14, 14, 6), (None, 10, 10, 16), (None, 5, 5, 16), (None, 400), (None, 120),
        (None, 84), (None, 10)]
    assert summary_rows(model) == summary_rows(theirs)
    model.set_weights(theirs.get_weights())
    x = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_seed_000_frozen_backbone(rng):
    inputs = cnnkit.Input(shape=(150, 150, 3))
    x = cnnkit.layers.Conv2D(8, 7, strides=2)(inputs)
    x = cnnkit.layers.BatchNormalization()(x)
    backbone = cnnkit.Model(inputs, cnnkit.layers.Conv2D(16, 3, strides=2, activation="relu")(x))
    model = run(SEED_000_FROZEN_BACKBONE, backbone=backbone)["model"]
    frozen = backbone.count_params()
    assert model.count_params() == frozen + 16 * 12 + 12
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 16 * 12 + 12
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == frozen
    out = model.predict(rng.uniform(size=(2, 150, 150, 3)).astype(np.float32))
    assert out.shape == (2, 12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


# ---- seed 002: the MNIST convnet ----------------------------------------------------------------------------

# 002_0fffaacaee0c572d.txt, "Initiating a small convnet".
SEED_002_CONVNET = """
from keras import layers
from keras import models

model = models.Sequential()
model.add(layers.Conv2D(filters=32,kernel_size=(3,3),activation='relu',input_shape=(28,28,1)))
model.add(layers.MaxPooling2D(pool_size=(2,2)))
model.add(layers.Conv2D(filters=64,kernel_size=(3,3),activation='relu'))
model.add(layers.MaxPooling2D(pool_size=(2,2)))
model.add(layers.Conv2D(filters=64, kernel_size=(3,3), activation='relu'))

model.summary()
"""

# 002_0fffaacaee0c572d.txt, "Adding a classifier on top of the convnet".
SEED_002_CLASSIFIER = """
model.add(layers.Flatten())
model.add(layers.Dense(units=64,activation='relu'))
model.add(layers.Dense(10,activation='softmax'))

model.summary()
"""

# 002_0fffaacaee0c572d.txt, "Training the convnet on MNIST images" (the data preparation; the arrays come from
# mnist.load_data() in the notes, here random arrays of the same layout, 600 images instead of 60000).
SEED_002_DATA = """
from keras.utils import to_categorical

train_images = train_images.reshape((600,28,28,1))
train_images = train_images.astype('float32') / 255

train_labels = to_categorical(train_labels)
"""


def test_seed_002_convnet(keras, wide, capsys, rng):
    ns = run(SEED_002_CONVNET)
    first = capsys.readouterr().out
    for text in ("(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)",
                 "(None, 3, 3, 64)", "320", "18,496", "36,928", "Total params: 55,744", "Trainable params: 55,744",
                 "Non-trainable params: 0"):
        assert text in first
    ns = run(SEED_002_CLASSIFIER, **ns)
    second = capsys.readouterr().out
    assert "(None, 576)" in second and "Total params: 93,322" in second
    model = ns["model"]
    assert [layer.count_params() for layer in model.layers] == [320, 0, 18496, 0, 36928, 0, 36928, 650]

    theirs = run(SEED_002_CLASSIFIER, **run(SEED_002_CONVNET, kit="keras"), kit="keras")
    capsys.readouterr()
    assert summary_rows(model) == summary_rows(theirs["model"])

    data = run(SEED_002_DATA, train_images=rng.integers(0, 256, size=(600, 28, 28)).astype(np.uint8),
               train_labels=rng.integers(0, 10, size=600))
    assert data["train_images"].shape == (600, 28, 28, 1) and data["train_images"].max() <= 1.0
    assert data["train_labels"].shape == (600, 10)
    probs = model.predict(data["train_images"], batch_size=64)
    assert probs.shape == (600, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# ---- seed 003: Conv1D/2D/3D, strides, padding, pooling, the CIFAR-10 model ----------------------------------

# 003_c0f95dda8a25f66c.txt, "Filters".
SEED_003_FILTERS = """
import tensorflow as tf
# filter configuration is set in convolution layers in Keras
# by default Keras supports filters from 1D-3D

# example of defining 64 filters with dimensionality set to 3
tf.keras.layers.Conv1D(64, 3)
tf.keras.layers.Conv2D(64, (3, 3))
tf.keras.layers.Conv3D(64, (3, 3, 3))
"""

# 003_c0f95dda8a25f66c.txt, "Strides" and "Padding" (each expression is assigned so the test can call it).
SEED_003_STRIDES_PADDING = """
import tensorflow as tf
# set stride to 3x3
strided = tf.keras.layers.Conv2D(64, (3, 3), strides=3)
# set padding to same
same = tf.keras.layers.Conv2D(64, (3, 3), strides=3, padding='same')
# set padding to valid
valid = tf.keras.layers.Conv2D(64, (3, 3), strides=3, padding='valid')
"""

# 003_c0f95dda8a25f66c.txt, "Pooling layers" (assigned as above).
SEED_003_POOLING = """
import tensorflow as tf
# Keras by default supports 1-3 dimensionality for pooling layers
# pooling layers are in the layer namespace
max_pool = tf.keras.layers.MaxPooling2D(pool_size=(2, 2), strides=2, padding="valid")
avg_pool = tf.keras.layers.AveragePooling2D (pool_size=(2, 2), strides=2, padding="valid")
global_pool = tf.keras.layers.GlobalAveragePooling2D()
"""

# 003_c0f95dda8a25f66c.txt, "CIFAR-10": the imports (without `datasets`, which cnnkit does not provide, and
# matplotlib) and "Setting up the network architecture".
SEED_003_CIFAR = """
import tensorflow as tf

from tensorflow.keras import layers
from keras.models import Model

# 32x32 image with 3 channels - RGB
input_layer = layers.Input(shape=(32, 32, 3))
# Convolution 2D, 32 filter with patches of size 3x3
x = layers.Conv2D(32, (3, 3), activation='relu')(input_layer)
# Maximum pooling with patches of size 2x2
x = layers.MaxPooling2D((2, 2))(x)
# Convolution 2D, 64 filter with patches of size 3x3
x = layers.Conv2D(64, (3, 3), activation='relu')(x)
x = layers.MaxPooling2D((2, 2))(x)
x = layers.Conv2D(64, (3, 3), activation='relu')(x)
# Flatten conv2D output for processing in dense layers responsible for classification
x = layers.Flatten()(x)
x = layers.Dense(64, activation='relu')(x)
output_layer = layers.Dense(10, activation='softmax')(x)
model = Model(inputs = input_layer, outputs = output_layer)
model.summary()
"""

# 003_c0f95dda8a25f66c.txt, "Display trained filters" (the plotting calls are left out; the loops run).
SEED_003_FILTERS_DISPLAY = """
# how layers are stacked
layer = model.layers

filters, biases = model.layers[1].get_weights()
# (rows, cols, channels, filter count)
shapes = [filters.shape]

for index, columns, rows in [(1, 4, 8), (3, 8, 8), (5, 8, 8)]:
    filters, biases = model.layers[index].get_weights()
    n_filters = columns * rows
    for i in range(1, n_filters +1):
        f = filters[:, :, :, i-1]
        shown = f[:, :, 0]
    shapes.append(shown.shape)
"""

# 003_c0f95dda8a25f66c.txt, "Display image processed by filters" (plotting left out).
SEED_003_FEATURE_MAPS = """
# reformat model to get output from trained convolution layers
conv_layer_index = [1, 3, 5]
outputs = [model.layers[i].output for i in conv_layer_index]
model_short = Model(inputs=model.inputs, outputs=outputs)
print(model_short.summary())

img = np.expand_dims(train_images[7], axis=0)

feature_output = model_short.predict(img)

maps = []
for columns, rows, index in [(4, 8, 0), (8, 8, 1), (8, 8, 2)]:
    ftr = feature_output[index]
    for i in range(1, columns*rows +1):
        shown = ftr[0, :, :, i-1]
    maps.append(shown.shape)
"""


def test_seed_003_filters(rng):
    run(SEED_003_FILTERS)
    ns = run(SEED_003_FILTERS.replace("\ntf.keras", "\nlayer = tf.keras"))  # and the last one is usable
    assert tuple(ns["layer"](np.zeros((1, 5, 6, 7, 2))).shape) == (1, 3, 4, 5, 64)
    conv1d = run("import tensorflow as tf\nlayer = tf.keras.layers.Conv1D(64, 3)")["layer"]
    assert tuple(conv1d(rng.normal(size=(2, 10, 8))).shape) == (2, 8, 64)
    conv2d = run("import tensorflow as tf\nlayer = tf.keras.layers.Conv2D(64, (3, 3))")["layer"]
    assert tuple(conv2d(rng.normal(size=(2, 12, 11, 3))).shape) == (2, 10, 9, 64)
    assert conv2d.get_weights()[0].shape == (3, 3, 3, 64)


def test_seed_003_strides_and_padding(keras, rng):
    mine, theirs = run(SEED_003_STRIDES_PADDING), run(SEED_003_STRIDES_PADDING, kit="keras")
    x = rng.normal(size=(2, 32, 31, 3)).astype(np.float32)
    expected = {"strided": (2, 10, 10, 64), "same": (2, 11, 11, 64), "valid": (2, 10, 10, 64)}
    for name, shape in expected.items():
        out = mine[name](x)
        assert tuple(out.shape) == shape
        theirs[name].build(x.shape)
        theirs[name].set_weights(mine[name].get_weights())
        np.testing.assert_allclose(out.numpy(), np.asarray(theirs[name](x)), rtol=1e-4, atol=1e-4, err_msg=name)


def test_seed_003_pooling(keras, rng):
    mine, theirs = run(SEED_003_POOLING), run(SEED_003_POOLING, kit="keras")
    x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
    for name in ("max_pool", "avg_pool", "global_pool"):
        np.testing.assert_allclose(mine[name](x).numpy(), np.asarray(theirs[name](x)), rtol=1e-5, atol=1e-6)
    assert tuple(mine["max_pool"](x).shape) == (2, 4, 4, 3)
    assert tuple(mine["global_pool"](x).shape) == (2, 3)


def test_seed_003_cifar_model_and_feature_maps(keras, wide, capsys, rng):
    ns = run(SEED_003_CIFAR)
    printed = capsys.readouterr().out
    assert "Total params: 122,570" in printed
    model = ns["model"]
    theirs = run(SEED_003_CIFAR, kit="keras")
    capsys.readouterr()
    assert summary_rows(model) == summary_rows(theirs["model"])

    shown = run(SEED_003_FILTERS_DISPLAY, **ns)
    assert shown["shapes"] == [(3, 3, 3, 32), (3, 3), (3, 3), (3, 3)]
    assert len(shown["layer"]) == 9

    train_images = rng.uniform(size=(10, 32, 32, 3))
    ns = run(SEED_003_FEATURE_MAPS, train_images=train_images, **ns)
    printed = capsys.readouterr().out
    summary, _, progress = printed.rpartition("None\n")  # print(model.summary()), then predict's progress line
    assert "Total params: 56,320" in summary and re.fullmatch(r"1/1 - \d+s - \d+(ms|us|s)/step\n", progress)
    assert [f.shape for f in ns["feature_output"]] == [(1, 30, 30, 32), (1, 13, 13, 64), (1, 4, 4, 64)]
    assert ns["maps"] == [(30, 30), (13, 13), (4, 4)]

    # Same weights -> same feature maps as Keras running the same code.
    theirs["model"].set_weights(model.get_weights())
    their_maps = run(SEED_003_FEATURE_MAPS, kit="keras", train_images=train_images, **theirs)["feature_output"]
    capsys.readouterr()
    for got, want in zip(ns["feature_output"], their_maps):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- seed 004: Dense classifier, parameter counting, kernels ------------------------------------------------

# 004_1640f47f8f2e0172.txt, "Classification with Keras" (model definition; the compile/fit/evaluate lines are
# left out). The 50 images come from the notes' `train_images`, here random.
SEED_004_DENSE = """
from keras.layers import Dense
from keras.models import Sequential

model = Sequential()

# Add a first hidden layaer
model.add(Dense(
	10,
	activation='relu',
	input_shape=(784,)
))
# Add a second hidden layaer
model.add(Dense(10, activation='relu'))
# Add the output layer
model.add(Dense(3, activation='softmax'))

# first reshape the images
train_data = train_images.reshape((50, 784))
"""

# 004_1640f47f8f2e0172.txt, "Implementing convolutions in Keras".
SEED_004_CONV = """
from keras.layers import Conv2D

# Here we have a kernel with 3x3 cells
Conv2D(10, kernel_size=3, activation='relu')
"""

# 004_1640f47f8f2e0172.txt, "Integrate the convolutional layer into a network".
SEED_004_CONV_NETWORK = """
from keras.models import Sequential
from keras.layers import Dense, Conv2D, Flatten

model = Sequential()
model.add(
	Conv2D(
		   filters = 10, # Number of units 
		   kernel_size = 3, 
		   activation  = 'relu',
		   input_shape = (img_rows, img_cols, 1) 
		  ))

# The flatten layer serves as a conector between
# the convolution and the next dense layer
model.add(Flatten())

model.add(Dense(3, activation='softmax'))
"""

# 004_1640f47f8f2e0172.txt, "Counting the number of parameters" (the three blocks in sequence; the second
# block is the notes' repeated first block, read here as the second convolution it describes).
SEED_004_COUNTING = """
model.add(Conv2D(
	10,
	kernel_size=3,
	activation='relu',
	input_shape=(28, 28, 1),
	padding='same' # zero padding
))
"""
SEED_004_COUNTING_2 = """
model.add(Conv2D(
	10,
	kernel_size=3,
	activation='relu',
	padding='same' # zero padding
))
model.add(Flatten())
model.add(Dense(
	3, activation='softmax'
))
"""

# 004_1640f47f8f2e0172.txt, "Dropout" and "Batch Normalization" (the notes' `Dense, Conv2D /` line break is
# joined; `x, y` are the image size).
SEED_004_DROPOUT_BN = """
from keras.models import Sequential
from keras.layers import Dense, Conv2D, Flatten
from keras.layers import Dropout

model = Sequential()
model.add(
	Conv2D(5, kernel_size=3,
		  	activation='relu',
		    input_shape=(x, y, 1)
		  )
)
# Drop 25% of neurons in the first layer
model.add(Dropout(0.25))

from keras.layers import BatchNormalization

model.add(BatchNormalization())
"""

# 004_1640f47f8f2e0172.txt, "Implementing max pooling" (with the `...` placeholders filled in).
SEED_004_POOLING = """
from keras.models import Sequential
from keras.layers import Dense, Conv2D, Flatten
from keras.layers import MaxPool2D

model = Sequential()
model.add(Conv2D(4, kernel_size=3, input_shape=(28, 28, 1)))

# Apply the Pooling
# Specify the size of the pooling window 2x2 
model.add(MaxPool2D(2))

model.add(Conv2D(8, kernel_size=3))
"""

# 004_1640f47f8f2e0172.txt, "Interpreting the Model".
SEED_004_KERNEL = """
weights = model.layers[0].get_weights()
kernel = model.layers[0].get_weights()[0]
"""


def test_seed_004_dense_classifier(keras, rng):
    images = rng.uniform(size=(50, 28, 28))
    ns = run(SEED_004_DENSE, train_images=images)
    model = ns["model"]
    assert [layer.count_params() for layer in model.layers] == [7850, 110, 33]
    assert model.output_shape == (None, 3)
    theirs = run(SEED_004_DENSE, kit="keras", train_images=images)["model"]
    model.set_weights(theirs.get_weights())
    probs = model.predict(ns["train_data"])
    np.testing.assert_allclose(probs, theirs.predict(ns["train_data"], verbose=0), rtol=1e-5, atol=1e-6)
    assert probs.shape == (50, 3)


def test_seed_004_conv_network(rng):
    run(SEED_004_CONV)
    ns = run(SEED_004_CONV_NETWORK, img_rows=28, img_cols=28)
    model = ns["model"]
    assert [layer.count_params() for layer in model.layers] == [100, 0, 26 * 26 * 10 * 3 + 3]
    assert model.predict(rng.uniform(size=(2, 28, 28, 1))).shape == (2, 3)


def test_seed_004_parameter_counting(keras):
    for kit in ("cnnkit", "keras"):
        ns = run("from keras.models import Sequential\nfrom keras.layers import Conv2D, Flatten, Dense\n"
                 "model = Sequential()\n" + SEED_004_COUNTING, kit=kit)
        model = ns["model"]
        assert model.count_params() == 100  # (3 * 3) * 10 + 10
        run(SEED_004_COUNTING_2, kit=kit, **ns)
        assert [layer.count_params() for layer in model.layers] == [100, 910, 0, 10 * 28 * 28 * 3 + 3]
        assert tuple(model.layers[1].output.shape) == (None, 28, 28, 10)


def test_seed_004_dropout_batchnorm_pooling(rng):
    ns = run(SEED_004_DROPOUT_BN, x=20, y=24)
    model = ns["model"]
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "Dropout", "BatchNormalization"]
    assert model.output_shape == (None, 18, 22, 5)
    assert model.count_params() == 50 + 4 * 5
    data = rng.uniform(size=(3, 20, 24, 1)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(data), model.predict(data))  # inference: no dropout
    pooled = run(SEED_004_POOLING)["model"]
    assert [layer.output_shape for layer in pooled.layers] == [(None, 26, 26, 4), (None, 13, 13, 4),
                                                               (None, 11, 11, 8)]


def test_seed_004_typos_are_reported():
    """The notes pass padding/strides/dilation_rate to model.add instead of Conv2D: a clear TypeError."""
    ns = run("from keras.models import Sequential\nfrom keras.layers import Conv2D\nmodel = Sequential()")
    for typo in ("model.add(Conv2D(10, kernel_size=3, activation='relu', input_shape=(nrows, ncols, 1)), "
                 "padding='valid')",
                 "model.add(Conv2D(10, kernel_size=3, activation='relu', input_shape=(nrows, ncols, 1)), strides=2)"):
        with pytest.raises(TypeError, match="padding|strides"):
            run(typo, nrows=28, ncols=28, **ns)
    with pytest.raises(TypeError, match="Did you mean 'dilation_rate'"):
        run("Conv2D(10, kernel_size=3, dilation=2)", **ns)


def test_seed_004_kernel_interpretation(rng):
    ns = run(SEED_004_CONV_NETWORK, img_rows=28, img_cols=28)
    ns = run(SEED_004_KERNEL, **ns)
    kernel = ns["kernel"]
    assert kernel.shape == (3, 3, 1, 10)  # (rows, cols, channels, number of kernels)
    assert [w.shape for w in ns["weights"]] == [(3, 3, 1, 10), (10,)]
    # "We can use the kernel and apply a convolution function to the training images": the layer's feature map
    # is the seeds' 2-D convolution with that kernel, plus the bias, through the relu.
    image = rng.uniform(size=(28, 28, 1)).astype(np.float32)
    first = cnnkit.Model(ns["model"].inputs, ns["model"].layers[0].output)
    maps = first.predict(image[None])[0]
    bias = ns["weights"][1]
    for k in range(10):
        expected = np.maximum(convolve2d(image, kernel[:, :, :, k]) + bias[k], 0)
        np.testing.assert_allclose(maps[:, :, k], expected, rtol=1e-5, atol=1e-5)
