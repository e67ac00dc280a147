"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al. 2017), as `keras.applications.densenet` builds them.

Layer names as Keras (conv1_conv, conv1_bn, conv1_relu, pool1, conv2_block1_0_bn, ..., conv2_block1_concat,
pool2_bn, pool2_relu, pool2_conv, pool2_pool, ..., bn, relu, avg_pool, predictions; the two input paddings are
Keras's unnamed ZeroPadding2D layers), parameter counts (DenseNet121: 8,062,504 with the classifier, 7,037,504
without) and published weights files. The input is prepared in 'torch' mode (scaled to [0, 1], then normalized by
the ImageNet mean and standard deviation).

Example:
    >>> DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 1024)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooled_top
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import AveragePooling2D
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Concatenate
from cnnkit.layers import Conv2D
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import ZeroPadding2D

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
# (with the classifier, without it): md5 hashes, as in keras.applications.densenet.
WEIGHTS_HASHES = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
#: {weights name: {include_top: Keras's published file}}.
WEIGHTS_FILES = {
    name: {top: published(BASE_WEIGHTS_PATH, f"{name}_weights_tf_dim_ordering_tf_kernels{'' if top else '_notop'}.h5",
                          hashes[0 if top else 1]) for top in (True, False)}
    for name, hashes in WEIGHTS_HASHES.items()}
#: The block counts of the published models.
BLOCKS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
BN_EPSILON = 1.001e-5


def dense_block(x, blocks, name):
    """`blocks` conv blocks (growth rate 32) named <name>_block1, ..."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    """BatchNormalization, relu, a 1x1 convolution to `reduction` of the channels and a 2x2 average pooling."""
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    x = Activation("relu", name=f"{name}_relu")(x)
    x = Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """BN-relu-1x1 conv (4 * growth_rate) -> BN-relu-3x3 conv (growth_rate), concatenated to the input."""
    x1 = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(x)
    x1 = Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x1)
    x1 = Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def DenseNet(blocks, include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="densenet"):
    """A DenseNet with `blocks` conv blocks in its four dense blocks, as Keras's `DenseNet`. ImageNet weights exist
    for the block counts in `BLOCKS`. See `DenseNet121` for the arguments."""
    check_arguments(weights, include_top, classes, pooling)
    weights_name = {tuple(v): k for k, v in BLOCKS.items()}.get(tuple(blocks))
    if weights == "imagenet" and weights_name is None:
        raise ValueError(f"DenseNet: no ImageNet weights for blocks={list(blocks)} (published: "
                         f"{', '.join(str(list(b)) for b in BLOCKS.values())}).")
    img_input = image_input(input_tensor, input_shape, default_size=224, min_size=32, include_top=include_top,
                            weights=weights)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, count in enumerate(blocks):
        x = dense_block(x, count, name=f"conv{i + 2}")
        if i < 3:
            x = transition_block(x, 0.5, name=f"pool{i + 2}")
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name="bn")(x)
    x = Activation("relu", name="relu")(x)
    x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES.get(weights_name), include_top)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    """DenseNet121 (6, 12, 24, 16 conv blocks), as `keras.applications.DenseNet121`.

    Args:
        include_top: with the classifier (avg_pool + Dense `predictions`); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file.
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 32x32; (224, 224, 3) with the classifier and ImageNet
            weights.
        pooling: without the classifier: None (4-D maps), 'avg' or 'max'.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation.
        name: the model name.

    Returns:
        A functional `Model` (8,062,504 parameters with the classifier, 7,037,504 without).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    return DenseNet(BLOCKS["densenet121"], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet169"):
    """DenseNet169 (6, 12, 32, 32 conv blocks; 14,307,880 parameters with the classifier). See `DenseNet121`."""
    return DenseNet(BLOCKS["densenet169"], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet201"):
    """DenseNet201 (6, 12, 48, 32 conv blocks; 20,242,984 parameters with the classifier). See `DenseNet121`."""
    return DenseNet(BLOCKS["densenet201"], include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Keras's DenseNet preprocessing ('torch'): 0-255 values scaled to [0, 1], then normalized with the ImageNet
    mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225]. Returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions
