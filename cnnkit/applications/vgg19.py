"""VGG19, as `keras.applications.vgg19` builds it: the VGG body of `cnnkit.applications.vgg16` with blocks of
2, 2, 4, 4, 4 convolutions (143,667,240 parameters with the classifier, 20,024,384 without).

Example:
    >>> VGG19(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 512)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import published
from cnnkit.applications.vgg16 import BASE_WEIGHTS_PATH
from cnnkit.applications.vgg16 import VGG

#: {include_top: Keras's published file}, names and md5 hashes as in keras.applications.vgg19.
WEIGHTS_FILES = {
    True: published(BASE_WEIGHTS_PATH + "vgg19/", "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                    "cbe5617147190e668d6c5d5026f83318"),
    False: published(BASE_WEIGHTS_PATH + "vgg19/", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "253f8cb515780f3b799900260a226db6"),
}


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """VGG19 (blocks of 2, 2, 4, 4, 4 convolutions), as `keras.applications.VGG19`. The arguments, errors and
    weights are VGG16's (see `cnnkit.applications.vgg16.VGG16`).

    Returns:
        A functional `Model` (143,667,240 parameters with the classifier at 224x224, 20,024,384 without).
    """
    return VGG((2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name, WEIGHTS_FILES)


def preprocess_input(x, data_format=None):
    """Keras's VGG preprocessing ('caffe'): RGB -> BGR, minus the ImageNet means, no scaling."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
