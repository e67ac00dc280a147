"""EfficientNetV2B0 ... B3, S, M and L (Tan & Le 2021), as `keras.applications.efficientnet_v2` builds them.

Same graph, layer names (stem_conv, stem_bn, stem_activation, block1a_project_conv, ..., block4a_dwconv2, ...,
block6h_add, top_conv, top_bn, top_activation, avg_pool, top_dropout, predictions), initializers and parameter counts
as Keras (EfficientNetV2B0: 7,200,312 with the classifier), so Keras's weight files load unchanged. The first
stages are fused MBConv blocks (a full convolution instead of expansion + depthwise), the later ones MBConv blocks
with squeeze-and-excite.

The model preprocesses inside (`include_preprocessing=True`): B0-B3 with 3 channels rescale 0-255 pixels to [0, 1]
and normalize by the ImageNet mean and variance (an unnamed Rescaling and Normalization), S/M/L (and other channel
counts) rescale to [-1, 1]; `preprocess_input` is a pass-through. Blocks that keep their shape end with Keras's
drop connect `Dropout(noise_shape=(None, 1, 1, 1))` (its rate is Keras's `survival_probability`, growing with the
block index), so a frozen backbone is random in training and `fit(cache_frozen=True)` refuses to cache it unless it
is called as `backbone(x, training=False)` (inference mode, as Keras's transfer-learning guide does).

Example:
    >>> model = EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling='avg')
    >>> model.output_shape
    (None, 1280)
"""

import copy
import math

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.applications.efficientnet import CONV_KERNEL_INITIALIZER
from cnnkit.applications.efficientnet import DENSE_KERNEL_INITIALIZER
from cnnkit.applications.efficientnet import squeeze_excite
from cnnkit.initializers import Constant
from cnnkit.layers import Activation
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import DepthwiseConv2D
from cnnkit.layers import Dropout
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Normalization
from cnnkit.layers import Rescaling
from cnnkit.layers import add

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
# (with the classifier, without it): md5 hashes, as in keras.applications.efficientnet_v2.WEIGHTS_HASHES.
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
_FILE_STEMS = {"b0": "efficientnetv2-b0", "b1": "efficientnetv2-b1", "b2": "efficientnetv2-b2",
               "b3": "efficientnetv2-b3", "-s": "efficientnetv2-s", "-m": "efficientnetv2-m", "-l": "efficientnetv2-l"}

#: {'b0' / '-s' / ... (Keras's keys): {include_top: Keras's published file}}: efficientnetv2-b0.h5,
#: efficientnetv2-b0_notop.h5, ...
WEIGHTS_FILES = {
    key: {True: published(BASE_WEIGHTS_PATH, f"{_FILE_STEMS[key]}.h5", hashes[0]),
          False: published(BASE_WEIGHTS_PATH, f"{_FILE_STEMS[key]}_notop.h5", hashes[1])}
    for key, hashes in WEIGHTS_HASHES.items()}

_BLOCK_KEYS = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio", "strides",
               "conv_type")
_B_BLOCKS = [(3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1),
             (3, 3, 48, 96, 4, 0.25, 2, 0), (3, 5, 96, 112, 6, 0.25, 1, 0), (3, 8, 112, 192, 6, 0.25, 2, 0)]
#: Keras's DEFAULT_BLOCKS_ARGS, keyed by architecture (conv_type 1: fused MBConv, 0: MBConv).
DEFAULT_BLOCKS_ARGS = {name: [dict(zip(_BLOCK_KEYS, row)) for row in rows] for name, rows in {
    "efficientnetv2-s": [(3, 2, 24, 24, 1, 0.0, 1, 1), (3, 4, 24, 48, 4, 0.0, 2, 1), (3, 4, 48, 64, 4, 0, 2, 1),
                         (3, 6, 64, 128, 4, 0.25, 2, 0), (3, 9, 128, 160, 6, 0.25, 1, 0),
                         (3, 15, 160, 256, 6, 0.25, 2, 0)],
    "efficientnetv2-m": [(3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
                         (3, 7, 80, 160, 4, 0.25, 2, 0), (3, 14, 160, 176, 6, 0.25, 1, 0),
                         (3, 18, 176, 304, 6, 0.25, 2, 0), (3, 5, 304, 512, 6, 0.25, 1, 0)],
    "efficientnetv2-l": [(3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
                         (3, 10, 96, 192, 4, 0.25, 2, 0), (3, 19, 192, 224, 6, 0.25, 1, 0),
                         (3, 25, 224, 384, 6, 0.25, 2, 0), (3, 7, 384, 640, 6, 0.25, 1, 0)],
    "efficientnetv2-b0": _B_BLOCKS, "efficientnetv2-b1": _B_BLOCKS, "efficientnetv2-b2": _B_BLOCKS,
    "efficientnetv2-b3": _B_BLOCKS}.items()}


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """Keras's rounding of a filter count scaled by `width_coefficient` to a multiple of `depth_divisor`."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _bn(momentum, name):
    return BatchNormalization(axis=3, momentum=momentum, name=name)


def _drop_and_add(x, inputs, strides, input_filters, output_filters, survival_probability, name):
    if strides == 1 and input_filters == output_filters:
        if survival_probability:
            x = Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def mb_conv_block(inputs, input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
                  bn_momentum=0.9, activation="swish", survival_probability=0.8, name=""):
    """Keras's MBConvBlock: [1x1 expansion], 'same' depthwise (dwconv2), squeeze-and-excite, 1x1 projection."""
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = Conv2D(filters=filters, kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
                   padding="same", use_bias=False, name=f"{name}expand_conv")(x)
        x = _bn(bn_momentum, f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    x = DepthwiseConv2D(kernel_size=kernel_size, strides=strides, depthwise_initializer=CONV_KERNEL_INITIALIZER,
                        padding="same", use_bias=False, name=f"{name}dwconv2")(x)
    x = _bn(bn_momentum, f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name)
    x = Conv2D(filters=output_filters, kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
               padding="same", use_bias=False, name=f"{name}project_conv")(x)
    x = _bn(bn_momentum, f"{name}project_bn")(x)
    return _drop_and_add(x, inputs, strides, input_filters, output_filters, survival_probability, name)


def fused_mb_conv_block(inputs, input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1,
                        se_ratio=0.0, bn_momentum=0.9, activation="swish", survival_probability=0.8, name=""):
    """Keras's FusedMBConvBlock: [a full kxk expansion convolution], squeeze-and-excite, projection (kxk and
    activated when there is no expansion)."""
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = Conv2D(filters, kernel_size=kernel_size, strides=strides, kernel_initializer=CONV_KERNEL_INITIALIZER,
                   padding="same", use_bias=False, name=f"{name}expand_conv")(x)
        x = _bn(bn_momentum, f"{name}expand_bn")(x)
        x = Activation(activation=activation, name=f"{name}expand_activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name)
    x = Conv2D(output_filters, kernel_size=1 if expand_ratio != 1 else kernel_size,
               strides=1 if expand_ratio != 1 else strides, kernel_initializer=CONV_KERNEL_INITIALIZER,
               padding="same", use_bias=False, name=f"{name}project_conv")(x)
    x = _bn(bn_momentum, f"{name}project_bn")(x)
    if expand_ratio == 1:
        x = Activation(activation=activation, name=f"{name}project_activation")(x)
    return _drop_and_add(x, inputs, strides, input_filters, output_filters, survival_probability, name)


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                   depth_divisor=8, min_depth=8, bn_momentum=0.9, activation="swish", blocks_args="default",
                   name="efficientnetv2", include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax", include_preprocessing=True,
                   weights_name=None, architecture=None):
    """Builds an EfficientNetV2, as Keras's `EfficientNetV2` (`architecture`, e.g. 'efficientnetv2-b0', picks the
    blocks and the preprocessing where Keras reads the model name). See `EfficientNetV2B0`."""
    architecture = architecture or name
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS[architecture]
    check_arguments(weights, include_top, classes, pooling)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights)
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)
    x = img_input
    if include_preprocessing:
        if architecture.split("-")[-1].startswith("b") and shape[2] == 3:
            x = Rescaling(scale=1.0 / 255)(x)
            x = Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229 ** 2, 0.224 ** 2, 0.225 ** 2], axis=3)(x)
        else:
            x = Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def filters_of(count):
        return round_filters(count, width_coefficient, min_depth, depth_divisor)

    x = Conv2D(filters=filters_of(blocks_args[0]["input_filters"]), kernel_size=3, strides=2,
               kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn(bn_momentum, "stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(args["num_repeat"] for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError("The number of repeats in `EfficientNetV2` must be > 0. Received: "
                             f"num_repeat={args['num_repeat']}")
        args["input_filters"] = filters_of(args["input_filters"])
        args["output_filters"] = filters_of(args["output_filters"])
        block = {0: mb_conv_block, 1: fused_mb_conv_block}[args.pop("conv_type")]
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(x, activation=activation, bn_momentum=bn_momentum,
                      survival_probability=drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = Conv2D(filters=filters_of(1280), kernel_size=1, strides=1, kernel_initializer=CONV_KERNEL_INITIALIZER,
               padding="same", use_bias=False, name="top_conv")(x)
    x = _bn(bn_momentum, "top_bn")(x)
    x = Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                  bias_initializer=Constant(0.0), name="predictions")(x)
    else:
        x = pooling_only(x, pooling)
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES.get(weights_name), include_top)


# Keras's builders: (weights key, width, depth, default size).
VARIANTS = {"B0": ("b0", 1.0, 1.0, 224), "B1": ("b1", 1.0, 1.1, 240), "B2": ("b2", 1.1, 1.2, 260),
            "B3": ("b3", 1.2, 1.4, 300), "S": ("-s", 1.0, 1.0, 384), "M": ("-m", 1.0, 1.0, 480),
            "L": ("-l", 1.0, 1.0, 480)}


def _builder(variant):
    key, width, depth, size = VARIANTS[variant]
    architecture = _FILE_STEMS[key]

    def builder(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", include_preprocessing=True, name=architecture):
        return EfficientNetV2(width, depth, size, name=name, include_top=include_top, weights=weights,
                              input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                              classifier_activation=classifier_activation,
                              include_preprocessing=include_preprocessing, weights_name=key,
                              architecture=architecture)
    builder.__name__ = builder.__qualname__ = f"EfficientNetV2{variant}"
    builder.__doc__ = f"""EfficientNetV2{variant}, as `keras.applications.EfficientNetV2{variant}` (width {width},
    depth {depth}, default input {size}x{size}).

    Args:
        include_top: with the classifier (avg_pool, top_dropout, Dense `predictions`).
        weights: None, 'imagenet' (Keras's {architecture}.h5 / {architecture}_notop.h5) or the path of a weights
            file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 32x32; default ({size}, {size}, 3) with the classifier,
            (None, None, 3) without.
        pooling: without the classifier: None, 'avg' (avg_pool) or 'max' (max_pool).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: the activation of `predictions` (None or 'softmax' with pretrained weights).
        include_preprocessing: the rescaling (and for B0-B3 the normalization) of 0-255 pixels at the input.
        name: the model name (Keras requires the default; cnnkit takes any).

    Returns:
        A functional `Model` taking 0-255 pixels.

    Raises:
        ValueError: invalid arguments, with Keras's messages.
    """
    return builder


EfficientNetV2B0 = _builder("B0")
EfficientNetV2B1 = _builder("B1")
EfficientNetV2B2 = _builder("B2")
EfficientNetV2B3 = _builder("B3")
EfficientNetV2S = _builder("S")
EfficientNetV2M = _builder("M")
EfficientNetV2L = _builder("L")


def preprocess_input(x, data_format=None):
    """A pass-through, as Keras's: the model rescales 0-255 pixels itself."""
    return x


decode_predictions = imagenet_utils.decode_predictions
