"""NASNetMobile and NASNetLarge (NASNet-A, Zoph et al. 2018), as `keras.applications.nasnet` builds them.

Layer names as Keras (stem_conv1, stem_bn1, reduction_conv_1_stem_1, separable_conv_1_normal_left1_0, ...,
normal_concat_11, predictions; the relu activations, a few paddings, croppings, concatenations and additions, and
the top's pooling are Keras's unnamed layers, created in Keras's order so the numbers match), parameter counts
(NASNetMobile: 5,326,716 with the classifier; NASNetLarge: 88,949,818) and the published weights files. Keras
refuses NASNetMobile on its torch backend; cnnkit builds it. Inputs at least 32x32; prepared in 'tf' mode.

Example:
    >>> NASNetMobile(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 1056)
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import WeightsFile
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooling_only
from cnnkit.layers import Activation
from cnnkit.layers import AveragePooling2D
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Cropping2D
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import SeparableConv2D
from cnnkit.layers import ZeroPadding2D
from cnnkit.layers import add
from cnnkit.layers import concatenate

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
#: {default size: {include_top: Keras's published file}} (Keras's cache names, URLs and md5 hashes).
WEIGHTS_FILES = {
    224: {True: WeightsFile("nasnet_mobile.h5", BASE_WEIGHTS_PATH + "NASNet-mobile.h5",
                            "020fb642bf7360b370c678b08e0adf61"),
          False: WeightsFile("nasnet_mobile_no_top.h5", BASE_WEIGHTS_PATH + "NASNet-mobile-no-top.h5",
                             "1ed92395b5b598bdda52abe5c0dbfd63")},
    331: {True: WeightsFile("nasnet_large.h5", BASE_WEIGHTS_PATH + "NASNet-large.h5",
                            "11577c9a518f0070763c2b964a382f17"),
          False: WeightsFile("nasnet_large_no_top.h5", BASE_WEIGHTS_PATH + "NASNet-large-no-top.h5",
                             "d81d89dc07e6e56530c4e77faddd61b5")},
}


def _bn(name):
    return BatchNormalization(axis=-1, momentum=0.9997, epsilon=0.001, name=name)


def _conv1x1(filters, name, strides=(1, 1)):
    return Conv2D(filters, (1, 1), strides=strides, padding="same", use_bias=False, name=name,
                  kernel_initializer="he_normal")


def _separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """relu -> [pad] -> separable conv (strides) -> BN -> relu -> separable conv -> BN, as Keras's."""
    x = Activation("relu")(ip)
    conv_pad = "same"
    if strides == (2, 2):
        padding = imagenet_utils.correct_pad(x, kernel_size)
        x = ZeroPadding2D(padding=padding, name=f"separable_conv_1_pad_{block_id}")(x)
        conv_pad = "valid"
    x = SeparableConv2D(filters, kernel_size, strides=strides, name=f"separable_conv_1_{block_id}", padding=conv_pad,
                        use_bias=False)(x)
    x = _bn(f"separable_conv_1_bn_{block_id}")(x)
    x = Activation("relu")(x)
    x = SeparableConv2D(filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same", use_bias=False)(x)
    return _bn(f"separable_conv_2_bn_{block_id}")(x)


def _adjust_block(p, ip, filters, block_id=None):
    """The previous cell's output `p` brought to the size and `filters` of `ip` (Keras's `_adjust_block`)."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = AveragePooling2D((1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = _conv1x1(filters // 2, f"adjust_conv_1_{block_id}")(p1)
        p2 = ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = AveragePooling2D((1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = _conv1x1(filters // 2, f"adjust_conv_2_{block_id}")(p2)
        p = concatenate([p1, p2], axis=-1)
        return _bn(f"adjust_bn_{block_id}")(p)
    if p.shape[-1] != filters:
        p = Activation("relu")(p)
        p = _conv1x1(filters, f"adjust_conv_projection_{block_id}")(p)
        return _bn(f"adjust_bn_{block_id}")(p)
    return p


def _cell_input(ip, p, filters, kind, block_id):
    p = _adjust_block(p, ip, filters, block_id)
    h = Activation("relu")(ip)
    h = _conv1x1(filters, f"{kind}_conv_1_{block_id}")(h)
    return p, _bn(f"{kind}_bn_1_{block_id}")(h)


def _normal_a_cell(ip, p, filters, block_id=None):
    """Keras's NASNet-A normal cell; returns (output, ip)."""
    p, h = _cell_input(ip, p, filters, "normal", block_id)
    x1 = add([_separable_conv_block(h, filters, kernel_size=(5, 5), block_id=f"normal_left1_{block_id}"),
              _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")], name=f"normal_add_1_{block_id}")
    x2 = add([_separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}"),
              _separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")],
             name=f"normal_add_2_{block_id}")
    x3 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_left3_{block_id}")(h)
    x3 = add([x3, p], name=f"normal_add_3_{block_id}")
    x4 = add([AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_left4_{block_id}")(p),
              AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_right4_{block_id}")(p)],
             name=f"normal_add_4_{block_id}")
    x5 = add([_separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}"), h],
             name=f"normal_add_5_{block_id}")
    return concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{block_id}"), ip


def _reduction_a_cell(ip, p, filters, block_id=None):
    """Keras's NASNet-A reduction cell (stride 2); returns (output, ip)."""
    p, h = _cell_input(ip, p, filters, "reduction", block_id)
    h3 = ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1 = add([_separable_conv_block(h, filters, (5, 5), strides=(2, 2), block_id=f"reduction_left1_{block_id}"),
              _separable_conv_block(p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right1_{block_id}")],
             name=f"reduction_add_1_{block_id}")
    x2 = add([MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left2_{block_id}")(h3),
              _separable_conv_block(p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right2_{block_id}")],
             name=f"reduction_add_2_{block_id}")
    x3 = add([AveragePooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left3_{block_id}")(h3),
              _separable_conv_block(p, filters, (5, 5), strides=(2, 2), block_id=f"reduction_right3_{block_id}")],
             name=f"reduction_add3_{block_id}")
    x4 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"reduction_left4_{block_id}")(x1)
    x4 = add([x2, x4])
    x5 = add([_separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}"),
              MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_right5_{block_id}")(h3)],
             name=f"reduction_add4_{block_id}")
    return concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{block_id}"), ip


def NASNet(input_shape=None, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
           filter_multiplier=2, include_top=True, weights="imagenet", input_tensor=None, pooling=None, classes=1000,
           default_size=None, classifier_activation="softmax", name="NASNet"):
    """A NASNet-A, as Keras's `NASNet`: a stem, two reduction cells, then three groups of `num_blocks` normal cells
    separated by reduction cells, with `penultimate_filters` channels at the end. ImageNet weights exist for
    default_size 224 (NASNetMobile) and 331 (NASNetLarge). See `NASNetLarge` for the common arguments."""
    check_arguments(weights, include_top, classes, pooling)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError("When specifying the input shape of a NASNet and loading `ImageNet` weights, the input_shape "
                         f"argument must be static (no None entries). Got: `input_shape={input_shape}`.")
    default_size = 331 if default_size is None else default_size
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError("For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
                         f"(`filter_multiplier` ** 2). Current value: {penultimate_filters}")
    if weights == "imagenet" and default_size not in WEIGHTS_FILES:
        raise ValueError("ImageNet weights can only be loaded with NASNetLarge or NASNetMobile")
    filters = penultimate_filters // 24
    x = Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False, name="stem_conv1",
               kernel_initializer="he_normal")(img_input)
    x = _bn("stem_bn1")(x)
    p = None
    x, p = _reduction_a_cell(x, p, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for group in range(3):
        if group:
            x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier**group, block_id=f"reduce_{group * num_blocks}")
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block_id = f"{group * num_blocks + i + (1 if group else 0)}"
            x, p = _normal_a_cell(x, p, filters * filter_multiplier**group, block_id=block_id)
    x = Activation("relu")(x)
    if include_top:
        x = GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooling_only(x, pooling, names=(None, None))  # unnamed in Keras's NASNet
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES.get(default_size), include_top)


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name="nasnet_mobile"):
    """NASNetMobile (NASNet-A 4 @ 1056), as `keras.applications.NASNetMobile` (note: `input_shape` comes first).

    The arguments are NASNetLarge's; the default input is (224, 224, 3), also without the classifier.

    Returns:
        A functional `Model` (5,326,716 parameters with the classifier, 4,269,716 without).
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=224, classifier_activation=classifier_activation,
                  name=name)


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="nasnet_large"):
    """NASNetLarge (NASNet-A 6 @ 4032), as `keras.applications.NASNetLarge` (note: `input_shape` comes first).

    Args:
        input_shape: (height, width, channels), at least 32x32; (331, 331, 3) by default and with the classifier
            and ImageNet weights; static (no None) with ImageNet weights.
        include_top: with the classifier (global average pooling + Dense `predictions`); default True.
        weights: None (random initial weights), 'imagenet' (Keras's published weights, cached or downloaded) or
            the path of a weights file.
        input_tensor: a symbolic tensor to build the model on.
        pooling: without the classifier: None (4-D maps), 'avg' or 'max'.
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation.
        name: the model name.

    Returns:
        A functional `Model` (88,949,818 parameters with the classifier; without it 84,916,818 at a static size,
        84,887,922 at the default (None, None, 3), as Keras: unknown sizes change which cells adjust their inputs).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit.
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network.
    """
    return NASNet(input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
                  filter_multiplier=2, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  pooling=pooling, classes=classes, default_size=331, classifier_activation=classifier_activation,
                  name=name)


def preprocess_input(x, data_format=None):
    """Keras's NASNet preprocessing ('tf'): 0-255 values scaled to [-1, 1]. Returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
