"""MobileNetV2 (Sandler et al. 2018), as `keras.applications.mobilenet_v2` builds it.

Same graph, layer names (Conv1, bn_Conv1, Conv1_relu, expanded_conv_depthwise, ..., block_1_expand,
block_1_expand_BN, block_1_expand_relu, block_1_pad, block_1_depthwise, ..., block_16_project_BN, Conv_1,
Conv_1_bn, out_relu; an unnamed GlobalAveragePooling2D and `predictions` with the classifier), initializers and
parameter counts as Keras (3,538,984 with the classifier at alpha=1), so Keras's weight files load unchanged.

Keras's input-size rule: square 96/128/160/192/224 inputs (from `input_shape`, or `input_tensor` when no shape is
given) select the ImageNet file of that size, other inputs load the 224 file with a warning; ImageNet weights exist
for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4). The default model name is `mobilenetv2_<alpha:.2f>_<rows>`.

The graph is channels_last throughout (no layout copies between layers): each inverted residual block is a 1x1
expansion, a 3x3 DepthwiseConv2D and a 1x1 projection, each followed by BatchNormalization.

Example:
    >>> backbone = MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False)
    >>> backbone.output_shape
    (None, 3, 3, 1280)
"""

import warnings

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import published
from cnnkit.applications.mobilenet import default_size_for
from cnnkit.applications.mobilenet import unnamed_pooling
from cnnkit.layers import Add
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import DepthwiseConv2D
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import ReLU
from cnnkit.layers import ZeroPadding2D

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
SIZES = (96, 128, 160, 192, 224)

#: {(alpha, rows): {include_top: Keras's published file}}; Keras publishes no hash for these files.
WEIGHTS_FILES = {
    (alpha, rows): {
        top: published(BASE_WEIGHT_PATH, f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                                         f"{'' if top else '_no_top'}.h5", None) for top in (True, False)}
    for alpha in ALPHAS for rows in SIZES}

# (filters, stride, expansion) of blocks 0..16.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))


def make_divisible(v, divisor, min_value=None):
    """Keras's `_make_divisible`: `v` rounded to a multiple of `divisor` (at least `min_value`), never below 90%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _bn(name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Keras's inverted residual block `block_id` (prefix block_<id>_, or expanded_conv_ for block 0, which has no
    expansion), with the shortcut Add when the shape is kept."""
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                   name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_BN")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_BN")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
               name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2, as `keras.applications.MobileNetV2`.

    Args:
        input_shape: (height, width, channels), at least 32x32; default (224, 224, 3) with the classifier,
            (None, None, 3) without. Square 96/128/160/192/224 inputs select the matching ImageNet file.
        alpha: width multiplier; ImageNet weights for 0.35, 0.5, 0.75, 1.0, 1.3, 1.4.
        include_top: with the classifier (global_average_pooling2d + Dense `predictions`).
        weights: None, 'imagenet' or the path of a weights file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on (its size selects the weights when input_shape is
            None).
        pooling: without the classifier: None, 'avg' or 'max'.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: the activation of `predictions` (None or 'softmax' with pretrained weights).
        name: the model name; default `mobilenetv2_<alpha:.2f>_<rows>`.

    Returns:
        A functional `Model` (3,538,984 parameters with the classifier at alpha=1; 2,257,984 without).

    Raises:
        ValueError: invalid arguments, with Keras's messages.
    """
    check_arguments(weights, include_top, classes, pooling)
    if input_tensor is not None and input_shape is not None and hasattr(input_tensor, "shape") \
            and len(input_tensor.shape) == 4 and input_tensor.shape[2] != input_shape[1]:
        raise ValueError("input_tensor.shape[2] must equal input_shape[1]; Received "
                         f"`input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`")
    if input_shape is None and input_tensor is not None and hasattr(input_tensor, "shape") \
            and len(input_tensor.shape) == 4:
        default_size = default_size_for(tuple(input_tensor.shape[1:]), SIZES)
    else:
        default_size = default_size_for(input_shape, SIZES)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights)
    rows, cols = shape[0], shape[1]
    if weights == "imagenet":
        if alpha not in ALPHAS:
            raise ValueError("If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                             f"`1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`")
        if rows != cols or rows not in SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)

    x = Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(img_input)
    x = _bn("bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = inverted_res_block(x, filters=filters, alpha=alpha, stride=stride, expansion=expansion,
                               block_id=block_id)
    last_block_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = unnamed_pooling(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    files = WEIGHTS_FILES.get((alpha, rows)) if weights == "imagenet" else None
    return finish(img_input, input_tensor, x, name, weights, files, include_top)


def preprocess_input(x, data_format=None):
    """Keras's MobileNetV2 preprocessing ('tf'): 0-255 pixels scaled to [-1, 1]; returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
