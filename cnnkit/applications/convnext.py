"""ConvNeXtTiny, Small, Base, Large and XLarge (Liu et al. 2022), as `keras.applications.convnext` builds them.

Same graph, layer names (<name>_prestem_normalization, the nested Sequential models <name>_stem and
<name>_downsampling_block_<i>, <name>_stage_<i>_block_<j>_depthwise_conv / _layernorm / _pointwise_conv_1 / _gelu /
_pointwise_conv_2 / _layer_scale / _identity, <name>_head_gap / _head_layernorm / _head_dense), weights and
parameter counts as Keras (ConvNeXtTiny: 28,589,128 with the classifier), so Keras's weight files load unchanged.
Each block's residual sum is Keras's `inputs + branch` operation (not a layer; `cnnkit.layers.operations`), and
`LayerScale` / `StochasticDepth` are cnnkit layers that Keras reads back (`cnnkit.layers.residual`).

The model preprocesses inside (`include_preprocessing=True`: a Normalization by the ImageNet mean and variance of
0-255 pixels, for 3-channel inputs), so `preprocess_input` is a pass-through. All builders use drop_path_rate 0 (an
Activation('linear') `_identity` stands for StochasticDepth), so a frozen backbone is deterministic and
`fit(cache_frozen=True)` caches it. The graph stays channels_last: the 7x7 depthwise convolution is a grouped
Conv2D, the pointwise convolutions are Dense layers on the channel axis.

Example:
    >>> model = ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3), pooling='avg')
    >>> model.output_shape
    (None, 768)
"""

import numpy as np

from cnnkit.applications import imagenet_utils
from cnnkit.applications.common import check_arguments
from cnnkit.applications.common import finish
from cnnkit.applications.common import image_input
from cnnkit.applications.common import published
from cnnkit.layers import Activation
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import GlobalMaxPooling2D
from cnnkit.layers import LayerNormalization
from cnnkit.layers import Normalization
from cnnkit.layers.residual import LayerScale  # also here, as keras.applications.convnext.LayerScale
from cnnkit.layers.residual import StochasticDepth
from cnnkit.models import Sequential
from cnnkit.models.connect import get_source_inputs

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# (with the classifier, without it): sha256 hashes, as in keras.applications.convnext.WEIGHTS_HASHES.
WEIGHTS_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}

#: {'convnext_tiny': {include_top: Keras's published file}}: convnext_tiny.h5 and convnext_tiny_notop.h5, ...
WEIGHTS_FILES = {
    key: {True: published(BASE_WEIGHTS_PATH, f"{key}.h5", hashes[0]),
          False: published(BASE_WEIGHTS_PATH, f"{key}_notop.h5", hashes[1])}
    for key, hashes in WEIGHTS_HASHES.items()}

MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "base": {"depths": [3, 3, 27, 3], "projection_dims": [128, 256, 512, 1024], "default_size": 224},
    "large": {"depths": [3, 3, 27, 3], "projection_dims": [192, 384, 768, 1536], "default_size": 224},
    "xlarge": {"depths": [3, 3, 27, 3], "projection_dims": [256, 512, 1024, 2048], "default_size": 224},
}


def convnext_block(x, projection_dim, drop_path_rate=0.0, layer_scale_init_value=1e-6, name=None):
    """Keras's ConvNeXt block on `x`: 7x7 depthwise (grouped Conv2D), LayerNormalization, Dense 4x, gelu, Dense,
    LayerScale, StochasticDepth (or a linear Activation at rate 0), added to the input."""
    inputs = x
    x = Conv2D(filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
               name=f"{name}_depthwise_conv")(x)
    x = LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = Activation("gelu", name=f"{name}_gelu")(x)
    x = Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
    else:
        layer = Activation("linear", name=f"{name}_identity")
    return inputs + layer(x)


def ConvNeXt(depths, projection_dims, drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=224,
             name="convnext", include_preprocessing=True, include_top=True, weights=None, input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", weights_name=None):
    """Builds a ConvNeXt from its stage depths and widths, as Keras's `ConvNeXt`. See `ConvNeXtTiny`."""
    check_arguments(weights, include_top, classes, pooling)
    if weights == "imagenet":
        expected = MODEL_CONFIGS[weights_name.split("convnext_")[-1]]
        if list(depths) != expected["depths"] or list(projection_dims) != expected["projection_dims"]:
            raise ValueError(f"Architecture configuration does not match {weights_name} variant. When using "
                             "pre-trained weights, the model architecture must match the pre-trained configuration "
                             f"exactly. Expected depths: {expected['depths']}, got: {depths}. Expected "
                             f"projection_dims: {expected['projection_dims']}, got: {projection_dims}.")
        if weights_name not in name:
            raise ValueError(f'Model name "{name}" does not match weights variant "{weights_name}". When using '
                             "imagenet weights, model name must contain the weights variant (e.g., "
                             f'"convnext_{weights_name.split("convnext_")[-1]}").')
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                              require_flatten=include_top, weights=weights)
    img_input = image_input(input_tensor, input_shape, default_size=default_size, min_size=32,
                            include_top=include_top, weights=weights)
    if input_tensor is not None:
        img_input = get_source_inputs(input_tensor)[0]
    x = img_input if input_tensor is None else input_tensor

    if include_preprocessing and shape[2] == 3:
        x = Normalization(mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
                          variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
                          name=f"{name}_prestem_normalization")(x)
    downsample_layers = [Sequential([
        Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
        LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")], name=f"{name}_stem")]
    for i in range(3):
        downsample_layers.append(Sequential([
            LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
            Conv2D(projection_dims[i + 1], kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}")],
            name=f"{name}_downsampling_block_{i}"))
    depth_drop_rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample_layers[i](x)
        for j in range(depths[i]):
            x = convnext_block(x, projection_dims[i], depth_drop_rates[cur + j], layer_scale_init_value,
                               name=f"{name}_stage_{i}_block_{j}")
        cur += depths[i]

    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        if pooling == "avg":
            x = GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = GlobalMaxPooling2D()(x)
        x = LayerNormalization(epsilon=1e-6)(x)
    return finish(img_input, None, x, name, weights, WEIGHTS_FILES.get(weights_name), include_top)


def _builder(size):
    key = f"convnext_{size}"
    config = MODEL_CONFIGS[size]
    title = f"ConvNeXt{'XLarge' if size == 'xlarge' else size.capitalize()}"

    def builder(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", name=key):
        return ConvNeXt(config["depths"], config["projection_dims"], 0.0, 1e-6, config["default_size"], name=name,
                        include_preprocessing=include_preprocessing, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, weights_name=key)
    builder.__name__ = builder.__qualname__ = title
    builder.__doc__ = f"""{title}, as `keras.applications.{title}` (depths {config['depths']}, widths
    {config['projection_dims']}).

    Args:
        include_top: with the classifier (<name>_head_gap, _head_layernorm, _head_dense).
        include_preprocessing: the Normalization of 0-255 pixels by the ImageNet statistics at the input.
        weights: None, 'imagenet' (Keras's {key}.h5 / {key}_notop.h5; the model name must contain '{key}', as
            Keras requires) or the path of a weights file (see `cnnkit.applications.resnet.ResNet50`).
        input_tensor: a symbolic tensor to build the model on.
        input_shape: (height, width, channels), at least 32x32; default (224, 224, 3) with the classifier,
            (None, None, 3) without.
        pooling: without the classifier: None, 'avg' or 'max' (unnamed pooling layers, then a LayerNormalization,
            as Keras).
        classes: classifier units (1000 with ImageNet weights and the classifier).
        classifier_activation: the activation of the classifier (None or 'softmax' with pretrained weights).
        name: the model name.

    Returns:
        A functional `Model` taking 0-255 pixels.

    Raises:
        ValueError: invalid arguments, with Keras's messages.
    """
    return builder


ConvNeXtTiny = _builder("tiny")
ConvNeXtSmall = _builder("small")
ConvNeXtBase = _builder("base")
ConvNeXtLarge = _builder("large")
ConvNeXtXLarge = _builder("xlarge")


def preprocess_input(x, data_format=None):
    """A pass-through, as Keras's: the model normalizes 0-255 pixels itself."""
    return x


decode_predictions = imagenet_utils.decode_predictions
