"""VGG16 (Simonyan & Zisserman 2014), as `keras.applications.vgg16` builds it, and the VGG body VGG19 shares.

Same layer names (block1_conv1, ..., block5_pool, flatten, fc1, fc2, predictions), initializers and parameter
counts as Keras (VGG16: 138,357,544 with the classifier, 14,714,688 without), so Keras's weight files
(`vgg16_weights_tf_dim_ordering_tf_kernels.h5`, `..._notop.h5`) load unchanged. `weights='imagenet'` reads
cnnkit's cache or Keras's (`~/.keras/models`), else downloads Keras's file (see `cnnkit.applications.resnet`).

Example:
    >>> backbone = VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    >>> backbone.output_shape
    (None, 2, 2, 512)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooling_only
from cnnkit.applications.common import published
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import MaxPooling2D

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: {include_top: Keras's published file}, names and md5 hashes as in keras.applications.vgg16.
WEIGHTS_FILES = {
    True: published(BASE_WEIGHTS_PATH + "vgg16/", "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                    "64373286793e3c8b2b4e3219cbf3544b"),
    False: published(BASE_WEIGHTS_PATH + "vgg16/", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "6d6bbae143d832006294945121d1f1fc"),
}


def VGG(convs, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name,
        files):
    """Keras's VGG body: five blocks of `convs[i]` 3x3 relu convolutions (64, 128, 256, 512, 512 filters), each
    block closed by a 2x2 max pooling; the top is flatten -> fc1 -> fc2 (4096 relu units) -> predictions.

    `files`: {include_top: WeightsFile} for weights='imagenet'. See `VGG16` for the other arguments.
    """
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=224, min_size=32, include_top=include_top,
                            weights=weights)
    x = img_input
    for block, (filters, count) in enumerate(zip((64, 128, 256, 512, 512), convs), start=1):
        for i in range(1, count + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooling_only(x, pooling, names=(None, None))  # Keras names VGG's pooling layers automatically
    return finish(img_input, input_tensor, x, name, weights, files, include_top)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """VGG16 (blocks of 2, 2, 3, 3, 3 convolutions), as `keras.applications.VGG16`.

    Args:
        include_top: with the three fully-connected layers (flatten, fc1, fc2, predictions); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file ('.h5' in tf.keras layout, loaded by layer name, or '.weights.h5' / '.keras').
        input_tensor: a symbolic tensor (an `Input` or a layer output) to build the model on.
        input_shape: (height, width, channels), at least 32x32. Default (224, 224, 3) with the classifier (which
            needs a static shape), (None, None, 3) without.
        pooling: without the classifier: None (4-D maps of block5_pool), 'avg' or 'max'.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation (None or 'softmax' with
            pretrained weights).
        name: the model name.

    Returns:
        A functional `Model` (138,357,544 parameters with the classifier at 224x224, 14,714,688 without).

    Raises:
        ValueError: invalid arguments (Keras's messages), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    return VGG((2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name, WEIGHTS_FILES)


def preprocess_input(x, data_format=None):
    """Keras's VGG preprocessing ('caffe'): RGB -> BGR, minus the ImageNet means, no scaling. Takes an image
    (H, W, 3) or a batch (N, H, W, 3) of 0-255 values; returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
