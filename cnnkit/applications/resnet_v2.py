"""ResNet50V2, ResNet101V2 and ResNet152V2 (pre-activation ResNets, He et al. 2016), as
`keras.applications.resnet_v2` builds them on the ResNet frame of `cnnkit.applications.resnet` (preact=True).

Layer names as Keras (conv1_pad, conv1_conv, pool1_pad, pool1_pool, conv2_block1_preact_bn, ..., conv5_block3_out,
post_bn, post_relu, avg_pool, predictions; the strided identity shortcuts are Keras's unnamed 1x1 max poolings),
parameter counts (ResNet50V2: 25,613,800 with the classifier, 23,564,800 without) and published weights files
(`resnet50v2_weights_tf_dim_ordering_tf_kernels.h5`, ...). The input is prepared in 'tf' mode (scaled to [-1, 1]).

Example:
    >>> ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 2048)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.resnet import ResNet
from cnnkit.applications.resnet import WEIGHTS_FILES as WEIGHTS_FILES_ALL
from cnnkit.applications.resnet import stacks

#: {weights name: {include_top: Keras's published file}} for the v2 models (names and md5 hashes as Keras's).
WEIGHTS_FILES = {name: files for name, files in WEIGHTS_FILES_ALL.items() if name.endswith("v2")}


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet50V2 (stacks of 3, 4, 6, 3 pre-activation blocks), as `keras.applications.ResNet50V2`.

    The arguments, errors and weights handling are ResNet50's (see `cnnkit.applications.resnet.ResNet50`): inputs
    at least 32x32, (224, 224, 3) with the classifier and ImageNet weights.

    Returns:
        A functional `Model` (25,613,800 parameters with the classifier, 23,564,800 without).
    """
    return ResNet(stacks((3, 4, 6, 3), version=2), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet50v2")


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet101v2"):
    """ResNet101V2 (stacks of 3, 4, 23, 3 blocks; 44,675,560 parameters with the classifier). See `ResNet50V2`."""
    return ResNet(stacks((3, 4, 23, 3), version=2), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet101v2")


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet152v2"):
    """ResNet152V2 (stacks of 3, 8, 36, 3 blocks; 60,380,648 parameters with the classifier). See `ResNet50V2`."""
    return ResNet(stacks((3, 8, 36, 3), version=2), True, True, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, weights_name="resnet152v2")


def preprocess_input(x, data_format=None):
    """Keras's ResNetV2 preprocessing ('tf'): 0-255 values scaled to [-1, 1], channel order kept. Takes an image
    (H, W, 3) or a batch (N, H, W, 3); returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
