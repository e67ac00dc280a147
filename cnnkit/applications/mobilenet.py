"""MobileNet (v1, Howard et al. 2017), as `keras.applications.mobilenet` builds it.

Same graph, layer names (conv1, conv1_bn, conv1_relu, conv_dw_1, conv_dw_1_bn, conv_dw_1_relu, conv_pw_1, ...,
conv_pad_2, ..., conv_pw_13_relu; with the classifier an unnamed GlobalAveragePooling2D(keepdims=True), dropout,
conv_preds, reshape_2, predictions), initializers and parameter counts as Keras (4,253,864 with the classifier at
alpha=1), so Keras's weight files load unchanged.

Keras's input-size rule: the model's default size is the input's side when the input is square and 128, 160, 192 or
224, else 224; ImageNet weights exist for alpha in (0.25, 0.5, 0.75, 1.0) and those four sizes
(`mobilenet_<alpha>_<size>_tf.h5`, `..._tf_no_top.h5`, no published hash), other sizes load the 224 file with a
warning, as Keras does. The default model name is `mobilenet_<alpha:.2f>_<rows>`.

Example:
    >>> backbone = MobileNet(input_shape=(128, 128, 3), alpha=0.5, weights=None, include_top=False)
    >>> backbone.output_shape
    (None, 4, 4, 512)
"""

import warnings

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import DepthwiseConv2D
from cnnkit.layers import Dropout
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import GlobalMaxPooling2D
from cnnkit.layers import ReLU
from cnnkit.layers import Reshape
from cnnkit.layers import ZeroPadding2D

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
SIZES = (128, 160, 192, 224)

#: {(alpha, rows): {include_top: Keras's published file}}; Keras publishes no hash for these files.
WEIGHTS_FILES = {
    (alpha, rows): {True: published(BASE_WEIGHT_PATH, f"mobilenet_{text}_{rows}_tf.h5", None),
                    False: published(BASE_WEIGHT_PATH, f"mobilenet_{text}_{rows}_tf_no_top.h5", None)}
    for alpha, text in ALPHA_TEXT.items() for rows in SIZES}


def conv_block(inputs, filters, alpha, kernel=(3, 3), strides=(1, 1)):
    """Keras's first block: a 'same' convolution conv1 (int(filters * alpha) filters), conv1_bn, conv1_relu (relu6)."""
    x = Conv2D(int(filters * alpha), kernel, padding="same", use_bias=False, strides=strides, name="conv1")(inputs)
    x = BatchNormalization(axis=-1, name="conv1_bn")(x)
    return ReLU(6.0, name="conv1_relu")(x)


def depthwise_conv_block(inputs, pointwise_conv_filters, alpha, depth_multiplier=1, strides=(1, 1), block_id=1):
    """Keras's depthwise separable block `block_id`: [conv_pad_<id> for stride 2] 3x3 DepthwiseConv2D conv_dw_<id>,
    BN, relu6, 1x1 Conv2D conv_pw_<id> (int(filters * alpha) filters), BN, relu6."""
    strides = tuple(strides)
    if strides == (1, 1):
        x = inputs
    else:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(inputs)
    x = DepthwiseConv2D((3, 3), padding="same" if strides == (1, 1) else "valid", depth_multiplier=depth_multiplier,
                        strides=strides, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(pointwise_conv_filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


# (pointwise filters, stride) of blocks 1..13.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))


def default_size_for(input_shape, sizes):
    """Keras's rule: the input's side when it is square and one of `sizes`, else 224."""
    if input_shape is None:
        return 224
    try:
        rows, cols = input_shape[0], input_shape[1]
    except (TypeError, IndexError):
        return 224  # obtain_input_shape reports the malformed shape
    return rows if rows == cols and rows in sizes else 224


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNet, as `keras.applications.MobileNet`.

    Args:
        input_shape: (height, width, channels), at least 32x32; default (224, 224, 3) with the classifier,
            (None, None, 3) without. Square 128/160/192/224 inputs select the matching ImageNet file.
        alpha: width multiplier (filters of every layer times alpha); ImageNet weights for 0.25, 0.5, 0.75, 1.0.
        depth_multiplier: of the depthwise convolutions (1 with ImageNet weights).
        dropout: rate of the Dropout before the classifier.
        include_top: with the classifier (pooling, dropout, 1x1 conv_preds, reshape_2, predictions).
        weights: None, 'imagenet' or the path of a weights file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on.
        pooling: without the classifier: None, 'avg' or 'max'.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: the activation of `predictions` (None or 'softmax' with pretrained weights).
        name: the model name; default `mobilenet_<alpha:.2f>_<rows>`.

    Returns:
        A functional `Model`.

    Raises:
        ValueError: invalid arguments, with Keras's messages (depth_multiplier != 1 or an unpublished alpha with
            ImageNet weights, inputs smaller than 32x32, ...).
    """
    check_arguments(weights, include_top, classes, pooling)
    default_size = default_size_for(input_shape, SIZES)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights)
    rows, cols = shape[0], shape[1]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in ALPHA_TEXT:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or "
                             f"`1.0` only.  Received alpha={alpha}")
        if rows != cols or rows not in SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)

    x = conv_block(img_input, 32, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = depthwise_conv_block(x, filters, alpha, depth_multiplier, strides=(stride, stride), block_id=block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = unnamed_pooling(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    files = WEIGHTS_FILES.get((alpha, rows)) if weights == "imagenet" else None
    return finish(img_input, input_tensor, x, name, weights, files, include_top)


def unnamed_pooling(x, pooling):
    """Keras's MobileNet pooling without the classifier: layers with default names (global_average_pooling2d,
    global_max_pooling2d), unlike `common.pooling_only`'s avg_pool / max_pool."""
    if pooling == "avg":
        return GlobalAveragePooling2D()(x)
    if pooling == "max":
        return GlobalMaxPooling2D()(x)
    return pooling_only(x, None)


def preprocess_input(x, data_format=None):
    """Keras's MobileNet preprocessing ('tf'): 0-255 pixels scaled to [-1, 1]; returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
