"""InceptionV3 (Szegedy et al. 2016), as `keras.applications.inception_v3` builds it.

Layer names as Keras: the convolution / BatchNormalization (no scale) / relu triples of `conv2d_bn` are Keras's
unnamed conv2d_N / batch_normalization_N / activation_N layers, created in Keras's order so the numbers match; the
inception blocks' outputs are named mixed0 ... mixed10 (and mixed9_0, mixed9_1); then avg_pool and predictions.
Parameter counts as Keras (23,851,784 with the classifier, 21,802,784 without) and its published weights files.
Inputs at least 75x75, (299, 299, 3) by default; prepared in 'tf' mode (scaled to [-1, 1]).

Example:
    >>> InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)).output_shape
    (None, 1, 1, 2048)
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
from cnnkit.layers import Conv2D
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import concatenate

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
#: {include_top: Keras's published file}, names and md5 hashes as in keras.applications.inception_v3.
WEIGHTS_FILES = {
    True: published(BASE_WEIGHTS_PATH, "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                    "9a0d58056eeedaa3f26cb7ebd46da564"),
    False: published(BASE_WEIGHTS_PATH, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "bcbd6486424b2319ff4ef7d526e38f63"),
}


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    """Conv2D (no bias) -> BatchNormalization (scale=False) -> relu, as Keras's `conv2d_bn`: named <name>_conv,
    <name>_bn and <name> when `name` is given, else Keras's automatic names."""
    x = Conv2D(filters, (num_row, num_col), strides=strides, padding=padding, use_bias=False,
               name=f"{name}_conv" if name else None)(x)
    x = BatchNormalization(axis=3, scale=False, name=f"{name}_bn" if name else None)(x)
    return Activation("relu", name=name)(x)


def _chain(x, specs):
    """conv2d_bn applied in turn for each (filters, rows, cols[, strides, padding]) of `specs`."""
    for spec in specs:
        filters, rows, cols, *rest = spec
        strides, padding = rest if rest else ((1, 1), "same")
        x = conv2d_bn(x, filters, rows, cols, padding=padding, strides=strides)
    return x


def _avg_branch(x, filters):
    return conv2d_bn(AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def _block_35(x, pool_filters, name):
    """mixed0-mixed2: 1x1, 1x1 -> 5x5, 1x1 -> 3x3 -> 3x3, and average pooling -> 1x1 branches."""
    branches = [_chain(x, [(64, 1, 1)]), _chain(x, [(48, 1, 1), (64, 5, 5)]),
                _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3)]), _avg_branch(x, pool_filters)]
    return concatenate(branches, axis=3, name=name)


def _block_17(x, width, name):
    """mixed4-mixed7: 1x1, factorized 7x7 (1x7, 7x1) and double 7x7 branches of `width` channels, and pooling."""
    branches = [_chain(x, [(192, 1, 1)]), _chain(x, [(width, 1, 1), (width, 1, 7), (192, 7, 1)]),
                _chain(x, [(width, 1, 1), (width, 7, 1), (width, 1, 7), (width, 7, 1), (192, 1, 7)]),
                _avg_branch(x, 192)]
    return concatenate(branches, axis=3, name=name)


def _block_8(x, i):
    """mixed9/mixed10: 1x1, split 1x3 / 3x1 (mixed9_<i>), double 3x3 split (unnamed), and pooling branches."""
    branch1x1 = conv2d_bn(x, 320, 1, 1)
    branch3x3 = conv2d_bn(x, 384, 1, 1)
    branch3x3 = concatenate([conv2d_bn(branch3x3, 384, 1, 3), conv2d_bn(branch3x3, 384, 3, 1)], axis=3,
                            name=f"mixed9_{i}")
    dbl = _chain(x, [(448, 1, 1), (384, 3, 3)])
    dbl = concatenate([conv2d_bn(dbl, 384, 1, 3), conv2d_bn(dbl, 384, 3, 1)], axis=3)
    return concatenate([branch1x1, branch3x3, dbl, _avg_branch(x, 192)], axis=3, name=f"mixed{9 + i}")


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="inception_v3"):
    """InceptionV3, as `keras.applications.InceptionV3`.

    Args:
        include_top: with the classifier (avg_pool + Dense `predictions`); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file.
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 75x75; (299, 299, 3) with the classifier and ImageNet
            weights.
        pooling: without the classifier: None (4-D maps of mixed10), 'avg' or 'max' (Keras's unnamed poolings).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation.
        name: the model name.

    Returns:
        A functional `Model` (23,851,784 parameters with the classifier, 21,802,784 without).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=299, min_size=75, include_top=include_top,
                            weights=weights)
    x = _chain(img_input, [(32, 3, 3, (2, 2), "valid"), (32, 3, 3, (1, 1), "valid"), (64, 3, 3)])
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _chain(x, [(80, 1, 1, (1, 1), "valid"), (192, 3, 3, (1, 1), "valid")])
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _block_35(x, pool_filters, name=f"mixed{i}")
    x = concatenate([conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid"),
                     _chain(x, [(64, 1, 1), (96, 3, 3), (96, 3, 3, (2, 2), "valid")]),
                     MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3, name="mixed3")
    for i, width in enumerate((128, 160, 160, 192)):
        x = _block_17(x, width, name=f"mixed{4 + i}")
    x = concatenate([_chain(x, [(192, 1, 1), (320, 3, 3, (2, 2), "valid")]),
                     _chain(x, [(192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, (2, 2), "valid")]),
                     MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3, name="mixed8")
    for i in range(2):
        x = _block_8(x, i)
    if include_top:
        x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    else:
        x = pooling_only(x, pooling, names=(None, None))  # unnamed in Keras's InceptionV3
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES, include_top)


def preprocess_input(x, data_format=None):
    """Keras's InceptionV3 preprocessing ('tf'): 0-255 values scaled to [-1, 1]. Returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
