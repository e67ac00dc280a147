"""InceptionResNetV2 (Szegedy et al. 2017), as `keras.applications.inception_resnet_v2` builds it, with Keras's
`CustomScaleLayer` (the scaled residual sum) so that `.keras` files interchange with Keras.

Layer names as Keras: unnamed conv2d_N / batch_normalization_N / activation_N triples (created in Keras's order),
mixed_5b, block35_1..10, mixed_6a, block17_1..20, mixed_7a, block8_1..10 (<block>_mixed, <block>_conv,
custom_scale_layer_N, <block>_ac), conv_7b, conv_7b_bn, conv_7b_ac, avg_pool, predictions. Parameter counts as Keras
(55,873,736 with the classifier, 54,336,736 without) and its published weights files. Inputs at least 75x75,
(299, 299, 3) by default; prepared in 'tf' mode (scaled to [-1, 1]).

Example:
    >>> InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3)).output_shape
    (None, 1, 1, 1536)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooled_top
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import AveragePooling2D
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Concatenate
from cnnkit.layers import Conv2D
from cnnkit.layers.residual import CustomScaleLayer as CustomScaleLayer
from cnnkit.layers import Layer
from cnnkit.layers import MaxPooling2D

BASE_WEIGHT_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
#: {include_top: Keras's published file}, names and md5 hashes as in keras.applications.inception_resnet_v2.
WEIGHTS_FILES = {
    True: published(BASE_WEIGHT_URL, "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
                    "e693bd0210a403b3192acc6073ad2e96"),
    False: published(BASE_WEIGHT_URL, "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "d19885ff4a710c122648d3b5c3b684e4"),
}


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    """Conv2D -> BatchNormalization (scale=False; only without bias) -> activation, as Keras's `conv2d_bn`: named
    <name>, <name>_bn, <name>_ac when `name` is given, else Keras's automatic names."""
    x = Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = BatchNormalization(axis=3, scale=False, name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _branch(x, specs):
    """conv2d_bn in turn for each (filters, kernel_size[, strides, padding]) of `specs`."""
    for filters, kernel, *rest in specs:
        strides, padding = rest if rest else (1, "same")
        x = conv2d_bn(x, filters, kernel, strides=strides, padding=padding)
    return x


#: The branches of Keras's three Inception-ResNet block types.
BLOCK_BRANCHES = {
    "block35": ([(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]),
    "block17": ([(192, 1)], [(128, 1), (160, [1, 7]), (192, [7, 1])]),
    "block8": ([(192, 1)], [(192, 1), (224, [1, 3]), (256, [3, 1])]),
}


def inception_resnet_block(x, scale, block_type, block_idx, activation="relu"):
    """Keras's Inception-ResNet block: the branches of `block_type` ('block35', 'block17' or 'block8'),
    concatenated (<block>_mixed), projected by a 1x1 convolution with bias (<block>_conv), added to the input
    scaled by `scale` (CustomScaleLayer) and passed through `activation` (<block>_ac; None for none)."""
    if block_type not in BLOCK_BRANCHES:
        raise ValueError('Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", but got: '
                         f"{block_type}")
    branches = [_branch(x, specs) for specs in BLOCK_BRANCHES[block_type]]
    block_name = f"{block_type}_{block_idx}"
    mixed = Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = Activation(activation, name=f"{block_name}_ac")(x)
    return x


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="inception_resnet_v2"):
    """InceptionResNetV2, as `keras.applications.InceptionResNetV2`.

    Args:
        include_top: with the classifier (avg_pool + Dense `predictions`); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file.
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 75x75; (299, 299, 3) with the classifier and ImageNet
            weights.
        pooling: without the classifier: None (4-D maps of conv_7b_ac), 'avg' or 'max' (Keras's unnamed poolings).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation.
        name: the model name.

    Returns:
        A functional `Model` (55,873,736 parameters with the classifier, 54,336,736 without).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=299, min_size=75, include_top=include_top,
                            weights=weights)
    x = _branch(img_input, [(32, 3, 2, "valid"), (32, 3, 1, "valid"), (64, 3)])
    x = MaxPooling2D(3, strides=2)(x)
    x = _branch(x, [(80, 1, 1, "valid"), (192, 3, 1, "valid")])
    x = MaxPooling2D(3, strides=2)(x)
    branches = [_branch(x, [(96, 1)]), _branch(x, [(48, 1), (64, 5)]), _branch(x, [(64, 1), (96, 3), (96, 3)]),
                conv2d_bn(AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)]
    x = Concatenate(axis=3, name="mixed_5b")(branches)
    for block_idx in range(1, 11):
        x = inception_resnet_block(x, scale=0.17, block_type="block35", block_idx=block_idx)
    branches = [_branch(x, [(384, 3, 2, "valid")]), _branch(x, [(256, 1), (256, 3), (384, 3, 2, "valid")]),
                MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = Concatenate(axis=3, name="mixed_6a")(branches)
    for block_idx in range(1, 21):
        x = inception_resnet_block(x, scale=0.1, block_type="block17", block_idx=block_idx)
    branches = [_branch(x, [(256, 1), (384, 3, 2, "valid")]), _branch(x, [(256, 1), (288, 3, 2, "valid")]),
                _branch(x, [(256, 1), (288, 3), (320, 3, 2, "valid")]), MaxPooling2D(3, strides=2, padding="valid")(x)]
    x = Concatenate(axis=3, name="mixed_7a")(branches)
    for block_idx in range(1, 10):
        x = inception_resnet_block(x, scale=0.2, block_type="block8", block_idx=block_idx)
    x = inception_resnet_block(x, scale=1.0, activation=None, block_type="block8", block_idx=10)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")
    if include_top:
        x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    else:
        x = pooling_only(x, pooling, names=(None, None))  # unnamed in Keras's InceptionResNetV2
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES, include_top)


def preprocess_input(x, data_format=None):
    """Keras's InceptionResNetV2 preprocessing ('tf'): 0-255 values scaled to [-1, 1]. Returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
