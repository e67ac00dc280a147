"""MobileNetV3Small and MobileNetV3Large (Howard et al. 2019), as `keras.applications.mobilenet_v3` builds them.

Same graph, layer names and parameter counts as Keras, so Keras's weight files load unchanged. Like Keras, the
model preprocesses inside (`include_preprocessing=True`: an unnamed `Rescaling(1 / 127.5, offset=-1)` takes 0-255
pixels to [-1, 1]), so `preprocess_input` is a pass-through; the hard sigmoid of the squeeze-and-excite units is
Keras's `ReLU(6)(x + 3) * (1 / 6)`, whose two arithmetic steps are Keras operations in the graph (not layers; see
`cnnkit.layers.operations`). The activations, the relu layers and the classifier's Dropout/Flatten keep Keras's
default names (activation, re_lu_3, ...), which depend on the layers made before in the session, as in Keras.

Keras's input rules (not `obtain_input_shape`): any input at least 32x32, None sizes allowed also with the
classifier (it is convolutional); the size may come from `input_tensor`; ImageNet weights exist for 224x224 inputs,
alpha 0.75 or 1.0 (1.0 only when minimalistic), and other sizes load them with a warning.

Example:
    >>> model = MobileNetV3Small(input_shape=(64, 64, 3), weights=None, include_top=False, pooling='avg')
    >>> model.output_shape
    (None, 576)
"""

import warnings

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.applications.mobilenet_v2 import make_divisible
from cnnkit.layers import Activation
from cnnkit.layers import Add
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import DepthwiseConv2D
from cnnkit.layers import Dropout
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Input
from cnnkit.layers import Multiply
from cnnkit.layers import ReLU
from cnnkit.layers import Rescaling
from cnnkit.layers import ZeroPadding2D
from cnnkit.layers.node import SymbolicTensor

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# (with the classifier, without it): md5 hashes, as in keras.applications.mobilenet_v3.WEIGHTS_HASHES.
WEIGHTS_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}

#: {model_name ('small_224_1.0_float', ...): {include_top: Keras's published file}}.
WEIGHTS_FILES = {
    model_name: {
        True: published(BASE_WEIGHT_PATH, f"weights_mobilenet_v3_{model_name}.h5", hashes[0]),
        False: published(BASE_WEIGHT_PATH, f"weights_mobilenet_v3_{model_name}_no_top_v2.h5", hashes[1])}
    for model_name, hashes in WEIGHTS_HASHES.items()}


def relu(x):
    return ReLU()(x)


def hard_sigmoid(x):
    return ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    return Activation("hard_swish")(x)


def _bn(name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def se_block(inputs, filters, se_ratio, prefix):
    """Keras's squeeze-and-excite unit: pooled, reduced (relu), expanded, hard sigmoid, multiplied."""
    x = GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = Conv2D(make_divisible(filters * se_ratio, 8), kernel_size=1, padding="same",
               name=f"{prefix}squeeze_excite_conv")(x)
    x = ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = hard_sigmoid(x)
    return Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation, block_id):
    """Keras's MobileNetV3 block `block_id` (prefix expanded_conv_<id>_, expanded_conv_ for block 0, which has no
    expansion), with squeeze-and-excite when `se_ratio`, and the shortcut Add when the shape is kept."""
    shortcut = x
    prefix = "expanded_conv_"
    infilters = x.shape[-1]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = Conv2D(make_divisible(infilters * expansion, 8), kernel_size=1, padding="same", use_bias=False,
                   name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                        name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = se_block(x, make_divisible(infilters * expansion, 8), se_ratio, prefix)
    x = Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = Add(name=f"{prefix}add")([shortcut, x])
    return x


def _input_shape(input_shape, input_tensor):
    """Keras's MobileNetV3 input rules: the shape from `input_tensor` when not given, else (None, None, 3)."""
    if input_tensor is not None:
        if not isinstance(input_tensor, SymbolicTensor):
            raise ValueError(f"input_tensor specified: {input_tensor!r} is not a keras tensor")
        if input_shape is not None and input_tensor.shape[2] != input_shape[1]:
            raise ValueError(f"input_shape[1] must equal input_tensor.shape[2].  Received input_shape={input_shape}, "
                             f"input_tensor.shape={input_tensor.shape}")
        if input_shape is None:
            input_shape = (input_tensor.shape[2], input_tensor.shape[1], 3)
    if input_shape is None:
        input_shape = (None, None, 3)
    if isinstance(input_shape, int) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be a tuple of three integers. Received: input_shape={input_shape}")
    rows, cols = input_shape[0], input_shape[1]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={tuple(input_shape)}`")
    return tuple(input_shape)


def MobileNetV3(stack_fn, last_point_ch, input_shape=None, alpha=1.0, model_type="large", minimalistic=False,
                include_top=True, weights="imagenet", input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                classifier_activation="softmax", include_preprocessing=True, name=None):
    """Builds a MobileNetV3 around `stack_fn` (its blocks), as Keras's `MobileNetV3`. See `MobileNetV3Small`."""
    check_arguments(weights, include_top, classes, pooling)
    input_shape = _input_shape(input_shape, input_tensor)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError("If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non "
                             "minimalistic or `1.0` for minimalistic only.")
        if rows != cols or rows != 224:
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not 224. Weights for input shape "
                          "(224, 224) will be loaded as the default.", stacklevel=3)
    img_input = Input(shape=input_shape) if input_tensor is None else input_tensor
    if minimalistic:
        kernel, activation, se_ratio = 3, relu, None
    else:
        kernel, activation, se_ratio = 5, hard_swish, 0.25

    x = img_input
    if include_preprocessing:
        x = Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = _bn("conv_bn")(x)
    x = activation(x)
    x = stack_fn(x, kernel, activation, se_ratio)
    last_conv_ch = make_divisible(x.shape[-1] * 6, 8)
    if alpha > 1.0:
        last_point_ch = make_divisible(last_point_ch * alpha, 8)
    x = Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = _bn("conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate)(x)
        x = Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = pooling_only(x, pooling)
    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    files = WEIGHTS_FILES.get(model_name) if weights == "imagenet" else None
    return finish(img_input, input_tensor, x, name, weights, files, include_top)


def _depth(alpha):
    return lambda d: make_divisible(d * alpha, 8)


# (expansion, filters, kernel ('k': the model's), stride, squeeze-and-excite, activation ('a': the model's)).
SMALL_BLOCKS = ((1, 16, 3, 2, True, "relu"), (72.0 / 16, 24, 3, 2, False, "relu"), (88.0 / 24, 24, 3, 1, False, "relu"),
                (4, 40, "k", 2, True, "a"), (6, 40, "k", 1, True, "a"), (6, 40, "k", 1, True, "a"),
                (3, 48, "k", 1, True, "a"), (3, 48, "k", 1, True, "a"), (6, 96, "k", 2, True, "a"),
                (6, 96, "k", 1, True, "a"), (6, 96, "k", 1, True, "a"))
LARGE_BLOCKS = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
                (3, 40, "k", 2, True, "relu"), (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
                (6, 80, 3, 2, False, "a"), (2.5, 80, 3, 1, False, "a"), (2.3, 80, 3, 1, False, "a"),
                (2.3, 80, 3, 1, False, "a"), (6, 112, 3, 1, True, "a"), (6, 112, 3, 1, True, "a"),
                (6, 160, "k", 2, True, "a"), (6, 160, "k", 1, True, "a"), (6, 160, "k", 1, True, "a"))


def _stack(blocks, alpha):
    depth = _depth(alpha)

    def stack_fn(x, kernel, activation, se_ratio):
        for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
            x = inverted_res_block(x, expansion, depth(filters), kernel if k == "k" else k, stride,
                                   se_ratio if se else None, relu if act == "relu" else activation, block_id)
        return x
    return stack_fn


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Small"):
    """MobileNetV3Small, as `keras.applications.MobileNetV3Small`.

    Args:
        input_shape: (height, width, channels), at least 32x32 where known; default from `input_tensor`, else
            (None, None, 3) (also with the classifier).
        alpha: width multiplier; ImageNet weights for 0.75 and 1.0 (1.0 when minimalistic).
        minimalistic: without squeeze-and-excite, hard-swish and 5x5 kernels.
        include_top: with the classifier (pooling, conv_2, Dropout, logits, Flatten, predictions).
        weights: None, 'imagenet' or the path of a weights file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        pooling: without the classifier: None, 'avg' (avg_pool) or 'max' (max_pool).
        dropout_rate: of the Dropout before the logits (none when 0).
        classifier_activation: the activation of `predictions` (None or 'softmax' with pretrained weights).
        include_preprocessing: the Rescaling of 0-255 pixels to [-1, 1] at the input.
        name: the model name.

    Returns:
        A functional `Model` (2,554,968 parameters with the classifier at alpha=1).

    Raises:
        ValueError: invalid arguments, with Keras's messages.
    """
    return MobileNetV3(_stack(SMALL_BLOCKS, alpha), 1024, input_shape, alpha, "small", minimalistic, include_top,
                       weights, input_tensor, classes, pooling, dropout_rate, classifier_activation,
                       include_preprocessing, name=name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2,
                     classifier_activation="softmax", include_preprocessing=True, name="MobileNetV3Large"):
    """MobileNetV3Large, as `keras.applications.MobileNetV3Large` (5,507,432 parameters with the classifier at
    alpha=1). See `MobileNetV3Small` for the arguments."""
    return MobileNetV3(_stack(LARGE_BLOCKS, alpha), 1280, input_shape, alpha, "large", minimalistic, include_top,
                       weights, input_tensor, classes, pooling, dropout_rate, classifier_activation,
                       include_preprocessing, name=name)


def preprocess_input(x, data_format=None):
    """A pass-through, as Keras's: the model rescales 0-255 pixels itself (include_preprocessing=True)."""
    return x


decode_predictions = imagenet_utils.decode_predictions
