"""ResNet50, ResNet101 and ResNet152 (ResNet v1, He et al. 2015), as `keras.applications.resnet` builds them, and
the ResNet frame with the pre-activation blocks the v2 builders (`cnnkit.applications.resnet_v2`) use.

Same graph, layer names (conv1_pad, conv1_conv, conv1_bn, conv1_relu, pool1_pad, pool1_pool,
conv2_block1_0_conv, ..., conv5_block3_out, avg_pool, predictions), initializers and parameter counts as Keras
(ResNet50: 25,636,712 with the classifier, 23,587,712 without), so Keras's weight files load unchanged.

`weights='imagenet'` loads Keras's published file (`resnet50_weights_tf_dim_ordering_tf_kernels.h5`, or
`..._notop.h5` without the classifier; about 100 MB for ResNet50) from cnnkit's cache `$CNNKIT_HOME/models`
(default `~/.cnnkit/models`) or Keras's cache `$KERAS_HOME/models` (default `~/.keras/models`), else downloads it
from Keras's URL and checks its md5 hash. Offline with no cached copy it raises `WeightsDownloadError` naming the
file, the URL and the folder to put it in; `weights=None` needs no file (random initial weights, as Keras).

Example (the seeds' transfer-learning model; with weights='imagenet' once the notop file is cached):
    >>> backbone = ResNet50(input_shape=(150, 150, 3), weights=None, include_top=False)
    >>> backbone.trainable = False        # frozen: no trainable weights, BatchNormalization in inference mode
    >>> model = Sequential([backbone, GlobalAveragePooling2D(), Dense(12, activation='softmax')])
"""

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import pooled_top
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import Add
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import MaxPooling2D
from cnnkit.layers import ZeroPadding2D

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# (with the classifier, without it): md5 hashes, as in keras.applications.resnet.WEIGHTS_HASHES.
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
BN_EPSILON = 1.001e-5


#: {weights name: {include_top: Keras's published file}}.
WEIGHTS_FILES = {
    name: {top: published(BASE_WEIGHTS_PATH, f"{name}_weights_tf_dim_ordering_tf_kernels{'' if top else '_notop'}.h5",
                          hashes[0 if top else 1]) for top in (True, False)}
    for name, hashes in WEIGHTS_HASHES.items()}


def residual_block_v1(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    """Keras's bottleneck block: 1x1 (stride) -> kxk 'same' -> 1x1 (4*filters), each with BatchNormalization,
    added to the shortcut (a strided 1x1 projection when `conv_shortcut`, else the input) and passed through relu."""
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(x, filters, blocks, stride1=2, name=None):
    """`blocks` residual blocks named <name>_block1, ...; the first projects the shortcut and strides."""
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
    """Keras's pre-activation bottleneck block (ResNet v2): BatchNormalization + relu first (`preact`), then
    1x1 -> kxk (stride, explicit padding) -> 1x1 (4*filters, with bias), added to the shortcut: a 1x1 projection of
    `preact` when `conv_shortcut`, else the input (max-pooled with `stride` when it strides). No relu after the add."""
    preact = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x  # unnamed in Keras too
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(x, filters, blocks, stride1=2, name=None):
    """`blocks` pre-activation blocks named <name>_block1, ...; the first projects the shortcut, the last strides
    (Keras's v2 order)."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def ResNet(stack_fn, preact, use_bias, include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
           pooling=None, classes=1000, classifier_activation="softmax", name="resnet", weights_name=None):
    """Builds a ResNet around `stack_fn` (the residual stacks), as Keras's `ResNet`: v1 (`preact=False`: conv1
    followed by conv1_bn/conv1_relu) or v2 (`preact=True`: no BatchNormalization after conv1, post_bn/post_relu
    after the stacks). `weights_name` picks the published file ('resnet50', 'resnet50v2', ...).

    See `ResNet50` for the other arguments.
    """
    check_arguments(weights, include_top, classes, pooling)
    img_input = image_input(input_tensor, input_shape, default_size=224, min_size=32, include_top=include_top,
                            weights=weights)

    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
        x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = BatchNormalization(axis=3, epsilon=BN_EPSILON, name="post_bn")(x)
        x = Activation("relu", name="post_relu")(x)
    x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    return finish(img_input, input_tensor, x, name, weights, WEIGHTS_FILES.get(weights_name), include_top)


def stacks(blocks, version=1):
    """The stack function of a ResNet with `blocks` blocks in conv2..conv5 (64, 128, 256, 512 filters): v1 strides
    in the first block of conv3..conv5, v2 in the last block of conv2..conv4."""
    def stack_fn(x):
        for i, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
            if version == 1:
                x = stack_residual_blocks_v1(x, filters, count, stride1=1 if i == 0 else 2, name=f"conv{i + 2}")
            else:
                x = stack_residual_blocks_v2(x, filters, count, stride1=1 if i == 3 else 2, name=f"conv{i + 2}")
        return x
    return stack_fn


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    """ResNet50 (stacks of 3, 4, 6, 3 bottleneck blocks), as `keras.applications.ResNet50`.

    Args:
        include_top: with the classifier (avg_pool + Dense `predictions`); default True.
        weights: None (random initial weights, Keras's initializers), 'imagenet' (Keras's published weights:
            cached or downloaded, see the module docstring) or the path of a weights file ('.h5' in tf.keras layout,
            loaded by layer name, or '.weights.h5' / '.keras').
        input_tensor: a symbolic tensor (an `Input` or a layer output) to build the model on.
        input_shape: (height, width, channels); at least 32x32. Default (224, 224, 3) with the classifier,
            (None, None, 3) without. With the classifier and ImageNet weights it must be (224, 224, 3), and ImageNet
            weights need 3 channels.
        pooling: without the classifier: None (4-D output of the last block), 'avg' or 'max' (2-D output).
        classes: classifier units (must be 1000 with ImageNet weights and the classifier).
        classifier_activation: 'softmax' (default), None for logits, or any activation (None or 'softmax' with
            pretrained weights).
        name: the model name.

    Returns:
        A functional `Model` (25,636,712 parameters with the classifier, 23,587,712 without).

    Raises:
        ValueError: invalid arguments (as Keras), or a weights file that does not fit (layer and shapes named).
        WeightsDownloadError: weights='imagenet' with the file in no cache and no network (an OSError naming the
            file, its URL and the folder to put it in).
    """
    return ResNet(stacks((3, 4, 6, 3)), False, True, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, name, weights_name="resnet50")


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="resnet101"):
    """ResNet101 (stacks of 3, 4, 23, 3 blocks; 44,707,176 parameters with the classifier). See `ResNet50`."""
    return ResNet(stacks((3, 4, 23, 3)), False, True, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, name, weights_name="resnet101")


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="resnet152"):
    """ResNet152 (stacks of 3, 8, 36, 3 blocks; 60,419,944 parameters with the classifier). See `ResNet50`."""
    return ResNet(stacks((3, 8, 36, 3)), False, True, include_top, weights, input_tensor, input_shape, pooling,
                  classes, classifier_activation, name, weights_name="resnet152")


def preprocess_input(x, data_format=None):
    """Keras's ResNet preprocessing ('caffe'): RGB -> BGR, minus the ImageNet means [103.939, 116.779, 123.68],
    no scaling. Takes an image (H, W, 3) or a batch (N, H, W, 3) of 0-255 values; returns a new numpy array."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
