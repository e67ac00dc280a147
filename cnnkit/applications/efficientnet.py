"""EfficientNetB0 ... EfficientNetB7 (Tan & Le 2019), as `keras.applications.efficientnet` builds them.

Same graph, layer names (rescaling, normalization, stem_conv_pad, stem_conv, stem_bn, stem_activation,
block1a_dwconv, ..., block1a_se_squeeze, ..., block2b_drop, block2b_add, ..., top_conv, top_bn, top_activation,
avg_pool, top_dropout, predictions), initializers and parameter counts as Keras (EfficientNetB0: 5,330,571 with the
classifier), so Keras's weight files load unchanged.

The model preprocesses inside, as Keras's: `Rescaling(1 / 255)` then a `Normalization` whose mean, variance and
count are weights (Keras's ImageNet files hold the ImageNet statistics; with `weights=None` they are Keras's
initial values, mean 0 and variance 1); so `preprocess_input` is a pass-through and the model takes 0-255 pixels.
With `weights='imagenet'` Keras 3.15 adds a further `Rescaling` by 1 / sqrt(ImageNet stddev) per channel after the
Normalization (its fix of the published files' variance); cnnkit adds the same layer.

Every block after the first ends, when it keeps its shape, with a `Dropout(noise_shape=(None, 1, 1, 1))` (drop
connect): a frozen EfficientNet backbone in a Sequential is therefore still random in training and
`fit(cache_frozen=True)` refuses it (it says so); called as `backbone(x, training=False)` in a functional model
(Keras's transfer-learning recipe) it runs in inference mode and is cached.

Example:
    >>> model = EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3), pooling='avg')
    >>> model.output_shape
    (None, 1280)
"""

import copy
import math

import numpy as np

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import DepthwiseConv2D
from cnnkit.layers import Dropout
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Normalization
from cnnkit.layers import Rescaling
from cnnkit.layers import Reshape
from cnnkit.layers import ZeroPadding2D
from cnnkit.layers import add
from cnnkit.layers import multiply

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
# (with the classifier, without it): md5 hashes, as in keras.applications.efficientnet.WEIGHTS_HASHES.
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}

#: {'b0': {include_top: Keras's published file}}: efficientnetb0.h5 and efficientnetb0_notop.h5, ...
WEIGHTS_FILES = {
    key: {True: published(BASE_WEIGHTS_PATH, f"efficientnet{key}.h5", hashes[0]),
          False: published(BASE_WEIGHTS_PATH, f"efficientnet{key}_notop.h5", hashes[1])}
    for key, hashes in WEIGHTS_HASHES.items()}

DEFAULT_BLOCKS_ARGS = [
    {"kernel_size": 3, "repeats": 1, "filters_in": 32, "filters_out": 16, "expand_ratio": 1, "id_skip": True,
     "strides": 1, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 2, "filters_in": 16, "filters_out": 24, "expand_ratio": 6, "id_skip": True,
     "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 2, "filters_in": 24, "filters_out": 40, "expand_ratio": 6, "id_skip": True,
     "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 3, "filters_in": 40, "filters_out": 80, "expand_ratio": 6, "id_skip": True,
     "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 3, "filters_in": 80, "filters_out": 112, "expand_ratio": 6, "id_skip": True,
     "strides": 1, "se_ratio": 0.25},
    {"kernel_size": 5, "repeats": 4, "filters_in": 112, "filters_out": 192, "expand_ratio": 6, "id_skip": True,
     "strides": 2, "se_ratio": 0.25},
    {"kernel_size": 3, "repeats": 1, "filters_in": 192, "filters_out": 320, "expand_ratio": 6, "id_skip": True,
     "strides": 1, "se_ratio": 0.25},
]
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def keras_initial_statistics(layer):
    """Gives an unadapted Normalization Keras's initial weights (mean 0, variance 1, count 0), which Keras's
    layer uses until weights are loaded (cnnkit's refuses to run without statistics)."""
    layer.set_weights([np.zeros_like(w) if i != 1 else np.ones_like(w) for i, w in enumerate(layer.get_weights())])


def EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                 depth_divisor=8, activation="swish", blocks_args="default", name="efficientnet", include_top=True,
                 weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", weights_name=None):
    """Builds an EfficientNet from its scaling coefficients, as Keras's `EfficientNet`. See `EfficientNetB0`."""
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)

    def round_filters(filters, divisor=depth_divisor):
        filters *= width_coefficient
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats):
        return int(math.ceil(depth_coefficient * repeats))

    x = Rescaling(1.0 / 255.0)(img_input)
    normalization = Normalization(axis=3)
    x = normalization(x)
    keras_initial_statistics(normalization)
    if weights == "imagenet":
        x = Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
               kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = BatchNormalization(axis=3, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ValueError(f"The number of repeats in `EfficientNet` must be > 0. Received: repeats={args['repeats']}")
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, activation, drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = Conv2D(round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name="top_conv")(x)
    x = BatchNormalization(axis=3, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                  name="predictions")(x)
    else:
        x = pooling_only(x, pooling)
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES.get(weights_name), include_top)


def block(inputs, activation="swish", drop_rate=0.0, name="", filters_in=32, filters_out=16, kernel_size=3,
          strides=1, expand_ratio=1, se_ratio=0.0, id_skip=True):
    """Keras's mobile inverted bottleneck block: [1x1 expansion], depthwise (a ZeroPadding2D with correct_pad
    before stride 2), squeeze-and-excite, 1x1 projection, and with the shape kept drop connect + the shortcut."""
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                   name=f"{name}expand_conv")(inputs)
        x = BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = DepthwiseConv2D(kernel_size, strides=strides, padding=conv_pad, use_bias=False,
                        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv")(x)
    x = BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = squeeze_excite(x, filters, max(1, int(filters_in * se_ratio)), activation, name)
    x = Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def squeeze_excite(x, filters, filters_se, activation, name):
    """Keras's squeeze-and-excite of EfficientNet (and EfficientNetV2): se_squeeze, se_reshape, se_reduce,
    se_expand (sigmoid), se_excite."""
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = Conv2D(filters_se, 1, padding="same", activation=activation, kernel_initializer=CONV_KERNEL_INITIALIZER,
                name=f"{name}se_reduce")(se)
    se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_KERNEL_INITIALIZER,
                name=f"{name}se_expand")(se)
    return multiply([x, se], name=f"{name}se_excite")


# (width, depth, default size, dropout) per variant, as Keras's builders.
VARIANTS = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
            "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
            "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}


def _builder(key):
    width, depth, size, dropout = VARIANTS[key]

    def builder(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=f"efficientnet{key}"):
        return EfficientNet(width, depth, size, dropout, name=name, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, weights_name=key)
    builder.__name__ = builder.__qualname__ = f"EfficientNet{key.upper()}"
    builder.__doc__ = f"""EfficientNet{key.upper()}, as `keras.applications.EfficientNet{key.upper()}` (width {width},
    depth {depth}, default input {size}x{size}, top dropout {dropout}).

    Args:
        include_top: with the classifier (avg_pool, top_dropout, Dense `predictions`).
        weights: None, 'imagenet' (Keras's efficientnet{key}.h5 / efficientnet{key}_notop.h5) or the path of a
            weights file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 32x32; default ({size}, {size}, 3) with the classifier,
            (None, None, 3) without.
        pooling: without the classifier: None, 'avg' (avg_pool) or 'max' (max_pool).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: the activation of `predictions` (None or 'softmax' with pretrained weights).
        name: the model name.

    Returns:
        A functional `Model` taking 0-255 pixels.

    Raises:
        ValueError: invalid arguments, with Keras's messages.
    """
    return builder


EfficientNetB0 = _builder("b0")
EfficientNetB1 = _builder("b1")
EfficientNetB2 = _builder("b2")
EfficientNetB3 = _builder("b3")
EfficientNetB4 = _builder("b4")
EfficientNetB5 = _builder("b5")
EfficientNetB6 = _builder("b6")
EfficientNetB7 = _builder("b7")


def preprocess_input(x, data_format=None):
    """A pass-through, as Keras's: the model rescales and normalizes 0-255 pixels itself."""
    return x


decode_predictions = imagenet_utils.decode_predictions
