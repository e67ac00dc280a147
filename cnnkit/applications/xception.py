"""Xception (Chollet 2017), as `keras.applications.xception` builds it.

Layer names as Keras (block1_conv1, block1_conv1_bn, block1_conv1_act, ..., block14_sepconv2_act, avg_pool,
predictions; the four residual projections and their BatchNormalization layers, and the residual additions, are
Keras's unnamed conv2d / batch_normalization / add layers), parameter counts (22,910,480 with the classifier,
20,861,480 without) and published weights files. Inputs at least 71x71, (299, 299, 3) by default; prepared in 'tf'
mode (scaled to [-1, 1]).

Example:
    >>> Xception(weights=None, include_top=False, input_shape=(71, 71, 3)).output_shape
    (None, 3, 3, 2048)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooled_top
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import SeparableConv2D
from cnnkit.layers import add

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
#: {include_top: Keras's published file}, names and md5 hashes as in keras.applications.xception.
WEIGHTS_FILES = {
    True: published(BASE_WEIGHTS_PATH, "xception_weights_tf_dim_ordering_tf_kernels.h5",
                    "0a58e3b7378bc2990ea3b43d5981f1f6"),
    False: published(BASE_WEIGHTS_PATH, "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "b0042744bf5b25fce3cb969f33bebb97"),
}


def _sepconv_bn(x, filters, name, act_first=True):
    """[relu ->] SeparableConv2D 3x3 'same' (no bias) -> BatchNormalization, Keras's names <name>, <name>_bn."""
    if act_first:
        x = Activation("relu", name=f"{name}_act")(x)
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _projection(x, filters):
    """The strided 1x1 residual projection (unnamed in Keras)."""
    residual = Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return BatchNormalization(axis=-1)(residual)


def _reduction_block(x, block, filters, first_act=True):
    """Entry/exit-flow block: two separable convolutions and a strided max pooling, added to the projection."""
    residual = _projection(x, filters[1])
    x = _sepconv_bn(x, filters[0], f"block{block}_sepconv1", act_first=first_act)  # block2: no relu first
    x = _sepconv_bn(x, filters[1], f"block{block}_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return add([x, residual])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception"):
    """Xception, as `keras.applications.Xception`.

    Args:
        include_top: with the classifier (avg_pool + Dense `predictions`); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file.
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 71x71; (299, 299, 3) with the classifier and ImageNet
            weights.
        pooling: without the classifier: None (4-D maps), 'avg' or 'max' (Keras's unnamed pooling layers).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation.
        name: the model name.

    Returns:
        A functional `Model` (22,910,480 parameters with the classifier, 20,861,480 without).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=299, min_size=71, include_top=include_top,
                            weights=weights)
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)

    x = _reduction_block(x, 2, (128, 128), first_act=False)
    x = _reduction_block(x, 3, (256, 256))
    x = _reduction_block(x, 4, (728, 728))
    for i in range(8):
        residual = x
        for j in (1, 2, 3):
            x = _sepconv_bn(x, 728, f"block{i + 5}_sepconv{j}")
        x = add([x, residual])
    x = _reduction_block(x, 13, (728, 1024))

    x = SeparableConv2D(1536, (3, 3), padding="same", use_bias=False, name="block14_sepconv1")(x)
    x = BatchNormalization(axis=-1, name="block14_sepconv1_bn")(x)
    x = Activation("relu", name="block14_sepconv1_act")(x)
    x = SeparableConv2D(2048, (3, 3), padding="same", use_bias=False, name="block14_sepconv2")(x)
    x = BatchNormalization(axis=-1, name="block14_sepconv2_bn")(x)
    x = Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    else:
        x = pooling_only(x, pooling, names=(None, None))  # unnamed in Keras's Xception
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES, include_top)


def preprocess_input(x, data_format=None):
    """Keras's Xception preprocessing ('tf'): 0-255 values scaled to [-1, 1]. Returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
