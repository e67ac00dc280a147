"""The public layer API as a whole: every cnnkit layer has its Keras namesake, configs survive serialize /
deserialize in cnnkit and load in Keras, names are Keras's."""

import inspect
import json

import numpy as np
import pytest

from cnnkit import activations
from cnnkit import layers
from cnnkit.layers.base import Layer

PUBLIC_LAYERS = sorted(name for name, obj in vars(layers).items()
                       if inspect.isclass(obj) and issubclass(obj, Layer) and obj is not Layer)

# One instance per public class, with non-default arguments where there are any.
SAMPLES = {
    "Conv1D": lambda: layers.Conv1D(2, 3, padding="causal", dilation_rate=2),
    "Conv2D": lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu",
                                    kernel_regularizer="l2", use_bias=False),
    "Conv3D": lambda: layers.Conv3D(2, 2, groups=2),
    "Convolution2D": lambda: layers.Convolution2D(3, 1),
    "Convolution3D": lambda: layers.Convolution3D(3, 1),
    "Convolution1D": lambda: layers.Convolution1D(3, 1),
    "Conv1DTranspose": lambda: layers.Conv1DTranspose(2, 3, strides=2, output_padding=1, activation="relu"),
    "Conv2DTranspose": lambda: layers.Conv2DTranspose(4, (3, 2), strides=(2, 1), padding="same",
                                                      kernel_regularizer="l2", use_bias=False),
    "Conv3DTranspose": lambda: layers.Conv3DTranspose(2, 2, dilation_rate=2),
    "Convolution1DTranspose": lambda: layers.Convolution1DTranspose(3, 1),
    "Convolution2DTranspose": lambda: layers.Convolution2DTranspose(3, 1),
    "Convolution3DTranspose": lambda: layers.Convolution3DTranspose(3, 1),
    "DepthwiseConv1D": lambda: layers.DepthwiseConv1D(3, strides=2, depth_multiplier=2, padding="same"),
    "DepthwiseConv2D": lambda: layers.DepthwiseConv2D((3, 2), dilation_rate=2, depthwise_regularizer="l2",
                                                      depthwise_initializer="he_normal", activation="relu6"),
    "SeparableConv1D": lambda: layers.SeparableConv1D(4, 3, depth_multiplier=3, pointwise_initializer="ones"),
    "SeparableConv2D": lambda: layers.SeparableConv2D(4, 3, strides=2, padding="same", use_bias=False,
                                                      pointwise_regularizer="l2"),
    "SeparableConvolution1D": lambda: layers.SeparableConvolution1D(2, 1),
    "SeparableConvolution2D": lambda: layers.SeparableConvolution2D(2, 1),
    "Dense": lambda: layers.Dense(3, activation="tanh", bias_initializer="ones"),
    "Activation": lambda: layers.Activation("gelu"),
    "Dropout": lambda: layers.Dropout(0.3, noise_shape=(None, 1, 3)),
    "Rescaling": lambda: layers.Rescaling([1.0, 2.0], offset=0.5),
    "BatchNormalization": lambda: layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, scale=False),
    "LayerNormalization": lambda: layers.LayerNormalization(axis=[1, -1], epsilon=1e-5, center=False),
    "GroupNormalization": lambda: layers.GroupNormalization(groups=4, axis=2, scale=False, beta_regularizer="l2"),
    "UnitNormalization": lambda: layers.UnitNormalization(axis=[1, 2]),
    "Normalization": lambda: layers.Normalization(axis=(1, -1), mean=[1.0, 2.0], variance=[1.0, 4.0], invert=True),
    "Flatten": lambda: layers.Flatten(),
    "Reshape": lambda: layers.Reshape((-1, 2)),
    "ZeroPadding1D": lambda: layers.ZeroPadding1D((2, 1)),
    "ZeroPadding2D": lambda: layers.ZeroPadding2D(((1, 2), (3, 4))),
    "ZeroPadding3D": lambda: layers.ZeroPadding3D(1),
    "Concatenate": lambda: layers.Concatenate(axis=1),
    "InputLayer": lambda: layers.InputLayer(shape=(3, 4)),
    "Dot": lambda: layers.Dot(axes=(1, 2), normalize=True),
    "Permute": lambda: layers.Permute((2, 3, 1)),
    "RepeatVector": lambda: layers.RepeatVector(4),
    "Lambda": lambda: layers.Lambda(activations.relu, output_shape=(3, 4), arguments={"negative_slope": 0.1}),
    "ReLU": lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    "LeakyReLU": lambda: layers.LeakyReLU(negative_slope=0.2),
    "PReLU": lambda: layers.PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1, 2]),
    "ELU": lambda: layers.ELU(alpha=0.5),
    "Softmax": lambda: layers.Softmax(axis=[1, 2]),
    "SpatialDropout1D": lambda: layers.SpatialDropout1D(0.3, seed=7),
    "SpatialDropout2D": lambda: layers.SpatialDropout2D(0.3, seed=7),
    "SpatialDropout3D": lambda: layers.SpatialDropout3D(0.3),
    "GaussianNoise": lambda: layers.GaussianNoise(0.2, seed=1),
    "GaussianDropout": lambda: layers.GaussianDropout(0.4),
    "AlphaDropout": lambda: layers.AlphaDropout(0.1, noise_shape=(None, 1, 3), seed=2),
    "ActivityRegularization": lambda: layers.ActivityRegularization(l1=0.01, l2=0.02),
    "UpSampling1D": lambda: layers.UpSampling1D(3),
    "UpSampling2D": lambda: layers.UpSampling2D((1, 2), interpolation="bicubic"),
    "UpSampling3D": lambda: layers.UpSampling3D(2),
    "Cropping1D": lambda: layers.Cropping1D((0, 2)),
    "Cropping2D": lambda: layers.Cropping2D(((1, 2), 3)),
    "Cropping3D": lambda: layers.Cropping3D(1),
    "Resizing": lambda: layers.Resizing(3, 4, interpolation="lanczos3", pad_to_aspect_ratio=True, fill_value=1.0),
    "CenterCrop": lambda: layers.CenterCrop(5, 6),
    "MixUp": lambda: layers.MixUp(alpha=0.3, seed=4),
    "CutMix": lambda: layers.CutMix(factor=(0.1, 0.7), seed=2),
    "AdaptiveAveragePooling1D": lambda: layers.AdaptiveAveragePooling1D(3),
    "AdaptiveAveragePooling2D": lambda: layers.AdaptiveAveragePooling2D((2, 3)),
    "AdaptiveAveragePooling3D": lambda: layers.AdaptiveAveragePooling3D(2),
    "AdaptiveMaxPooling1D": lambda: layers.AdaptiveMaxPooling1D(4),
    "AdaptiveMaxPooling2D": lambda: layers.AdaptiveMaxPooling2D(2),
    "AdaptiveMaxPooling3D": lambda: layers.AdaptiveMaxPooling3D((1, 2, 3)),
    # colour augmentation layers
    "RandomContrast": lambda: layers.RandomContrast(0.3, value_range=(0, 1), seed=2),
    "RandomBrightness": lambda: layers.RandomBrightness((-0.2, 0.1), seed=1),
    "RandomGrayscale": lambda: layers.RandomGrayscale(0.3),
    "RandomHue": lambda: layers.RandomHue(0.4, seed=3),
    "RandomSaturation": lambda: layers.RandomSaturation((0.2, 0.6), value_range=(1, 0)),
    "RandomColorJitter": lambda: layers.RandomColorJitter(brightness_factor=0.1, hue_factor=(0.1, 0.2), seed=4),
    "RandomInvert": lambda: layers.RandomInvert(0.5, value_range=(0, 1)),
    "RandomPosterization": lambda: layers.RandomPosterization((2, 6)),
    "RandomColorDegeneration": lambda: layers.RandomColorDegeneration(0.3, seed=5),
    "Solarization": lambda: layers.Solarization(0.2, (0.1, 0.5), seed=6),
    "AutoContrast": lambda: layers.AutoContrast(value_range=(0, 1)),
    "Equalization": lambda: layers.Equalization(bins=64),
    "RandomSharpness": lambda: layers.RandomSharpness(0.4, seed=7),
    "RandomGaussianBlur": lambda: layers.RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.2, 0.8)),
    "RandomErasing": lambda: layers.RandomErasing(0.7, scale=(0.1, 0.2), fill_value=[1, 2, 3]),
    # geometric augmentation layers
    "RandomFlip": lambda: layers.RandomFlip("vertical", seed=1),
    "RandomRotation": lambda: layers.RandomRotation((-0.2, 0.1), fill_mode="wrap", seed=2),
    "RandomZoom": lambda: layers.RandomZoom(0.2, (-0.1, 0.3), interpolation="nearest"),
    "RandomTranslation": lambda: layers.RandomTranslation((0.1, 0.2), 0.3, fill_mode="constant", fill_value=2.0),
    # pairs: Keras writes a number f as (-f, f), which it cannot read back (cnnkit writes f)
    "RandomShear": lambda: layers.RandomShear(x_factor=(0.1, 0.3), y_factor=(0.0, 0.2), seed=3),
    "RandomCrop": lambda: layers.RandomCrop(6, 5, seed=4),
    "RandomPerspective": lambda: layers.RandomPerspective((0.2, 0.9), scale=0.4, fill_value=1.0),
    # composite augmentation layers
    "RandAugment": lambda: layers.RandAugment(value_range=(0, 1), num_ops=3, factor=(0.2, 0.4), seed=8),
    "AugMix": lambda: layers.AugMix(num_chains=2, chain_depth=1, alpha=0.5, all_ops=False, interpolation="nearest"),
}


def _sample(name):
    if name in SAMPLES:
        return SAMPLES[name]()
    cls = getattr(layers, name)
    if "Pool" in name and "Global" not in name:
        return cls(pool_size=3, strides=2, padding="same")
    if "Global" in name:
        return cls(keepdims=True)
    return cls()


def test_public_layers_are_the_expected_set():
    expected = {"Conv1D", "Conv2D", "Conv3D", "Convolution2D", "Convolution3D", "Dense", "Activation", "Dropout",
                "Rescaling", "BatchNormalization", "Flatten", "Reshape", "ZeroPadding1D", "ZeroPadding2D",
                "ZeroPadding3D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                "InputLayer", "Dot", "Permute", "RepeatVector", "Identity", "Lambda", "ReLU", "LeakyReLU", "PReLU",
                "ELU", "Softmax", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization", "LayerNormalization",
                "GroupNormalization", "UnitNormalization", "Normalization",
                "Resizing", "CenterCrop", "MixUp", "CutMix", "Convolution1D", "Conv1DTranspose",
                "Conv2DTranspose", "Conv3DTranspose", "Convolution1DTranspose", "Convolution2DTranspose",
                "Convolution3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
                "SeparableConvolution1D", "SeparableConvolution2D"}
    expected |= {"RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue", "RandomSaturation",
                 "RandomColorJitter", "RandomInvert", "RandomPosterization", "RandomColorDegeneration", "Solarization",
                 "AutoContrast", "Equalization", "RandomSharpness", "RandomGaussianBlur", "RandomErasing"}
    expected |= {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomShear", "RandomCrop",
                 "RandomPerspective"}
    expected |= {"RandAugment", "AugMix"}
    for rank in (1, 2, 3):
        expected |= {f"UpSampling{rank}D", f"Cropping{rank}D", f"AdaptiveAveragePooling{rank}D",
                     f"AdaptiveMaxPooling{rank}D"}
        expected |= {f"MaxPooling{rank}D", f"MaxPool{rank}D", f"AveragePooling{rank}D", f"AvgPool{rank}D",
                     f"GlobalMaxPooling{rank}D", f"GlobalMaxPool{rank}D", f"GlobalAveragePooling{rank}D",
                     f"GlobalAvgPool{rank}D"}
    assert set(PUBLIC_LAYERS) == expected


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_every_layer_has_a_keras_namesake(keras, name):
    assert hasattr(keras.layers, name)


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_serialize_deserialize_round_trip(config_round_trip, name):
    layer = _sample(name)
    config_round_trip(layer)
    spec = layers.serialize(layer)
    json.dumps(spec)
    rebuilt = layers.deserialize(json.loads(json.dumps(spec)))
    assert isinstance(rebuilt, getattr(layers, name))
    assert rebuilt.get_config() == layer.get_config()


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_keras_loads_cnnkit_configs(keras, name):
    """keras.layers.deserialize accepts cnnkit's serialized layers, and the Keras layer has the same settings."""
    layer = _sample(name)
    klayer = keras.layers.deserialize(layers.serialize(layer))
    kcfg, cfg = klayer.get_config(), layer.get_config()
    for key, value in cfg.items():
        if key == "dtype" or key.endswith("_initializer"):  # Keras adds fields; checked below
            continue
        if key == "activation":
            assert keras.activations.get(value) is keras.activations.get(kcfg[key])
            continue
        assert json.loads(json.dumps(kcfg[key])) == value, key
    for key in cfg:
        if key.endswith("_initializer"):
            assert kcfg[key]["class_name"] == cfg[key]["class_name"]


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_default_names_follow_keras(keras, name):
    layer, second = _sample(name), _sample(name)
    if name == "InputLayer":
        assert layer.name.startswith("input_layer")
        return
    base = type(layer).__name__
    # Keras's default name is the snake_case class name; its counter is global, so compare the stem.
    kname = getattr(keras.layers, base)(**_keras_args(base)).name
    assert kname.startswith(layer.name)
    assert second.name == f"{layer.name}_1"


def _keras_args(name):
    if name.startswith("Conv") or name.startswith("Separable"):
        return {"filters": 1, "kernel_size": 1}
    if name.startswith("Depthwise"):
        return {"kernel_size": 1}
    return {"Dense": {"units": 1}, "Activation": {"activation": "relu"}, "Dropout": {"rate": 0.5},
            "Rescaling": {"scale": 1.0}, "Reshape": {"target_shape": (1,)}, "Dot": {"axes": 1},
            "Permute": {"dims": (1,)}, "RepeatVector": {"n": 1}, "Lambda": {"function": abs},
            "GaussianNoise": {"stddev": 0.1}, "GaussianDropout": {"rate": 0.1}, "AlphaDropout": {"rate": 0.1},
            "SpatialDropout1D": {"rate": 0.1}, "SpatialDropout2D": {"rate": 0.1}, "SpatialDropout3D": {"rate": 0.1},
            "Resizing": {"height": 1, "width": 1}, "CenterCrop": {"height": 1, "width": 1},
            **{n: {"factor": 0.1} for n in ("RandomContrast", "RandomBrightness", "RandomHue", "RandomSaturation",
                                             "RandomColorDegeneration", "RandomSharpness")},
            "RandomPosterization": {"factor": 4}, "RandomRotation": {"factor": 0.1},
            "RandomZoom": {"height_factor": 0.1}, "RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1},
            "RandomCrop": {"height": 1, "width": 1}}.get(
        name, {"pool_size": 2} if name.startswith("AveragePooling") else
        {"output_size": 1} if name.startswith("Adaptive") else {})


def test_layers_take_numpy_or_torch_and_return_torch_in_keras_layout(rng):
    import torch  # noqa: PLC0415

    x = rng.standard_normal((2, 5, 6, 3)).astype("float32")
    conv = layers.Conv2D(4, 1, use_bias=False)
    out_numpy = conv(x)
    out_torch = conv(torch.as_tensor(x))
    assert isinstance(out_numpy, torch.Tensor) and out_numpy.shape == (2, 5, 6, 4)
    np.testing.assert_allclose(out_numpy.numpy(), out_torch.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(out_numpy.numpy(), x @ conv.get_weights()[0][0, 0], rtol=1e-5, atol=1e-6)


def test_float64_input_is_cast_to_the_layer_dtype(rng):
    out = layers.Dense(2)(rng.standard_normal((3, 4)))
    assert out.dtype.is_floating_point and str(out.dtype) == "torch.float32"


def test_unknown_call_keyword_raises():
    with pytest.raises(TypeError, match="trainng"):
        layers.Dense(2)(np.zeros((1, 3), "float32"), trainng=True)


NUMPY_ARGUMENTS = {  # arguments as numpy numbers (from np.arange, a config read with numpy, ...)
    "Conv2D": lambda: layers.Conv2D(np.int64(8), np.int64(3), strides=np.int32(2), groups=np.int64(2)),
    "Dense": lambda: layers.Dense(np.int32(3)),
    "RepeatVector": lambda: layers.RepeatVector(np.int64(3)),
    "ZeroPadding2D": lambda: layers.ZeroPadding2D(np.int64(1)),
    "Cropping2D": lambda: layers.Cropping2D(np.int64(1)),
    "Reshape": lambda: layers.Reshape((np.int64(2), -1)),
    "BatchNormalization": lambda: layers.BatchNormalization(axis=np.int64(-1), epsilon=np.float32(1e-3)),
    "Dropout": lambda: layers.Dropout(np.float32(0.5)),
    "Resizing": lambda: layers.Resizing(np.int64(4), 5, pad_to_aspect_ratio=True, fill_value=np.float32(1.0)),
}


@pytest.mark.parametrize("name", list(NUMPY_ARGUMENTS))
def test_numpy_numbers_are_taken_as_python_ones_and_configs_stay_json(name):
    layer = NUMPY_ARGUMENTS[name]()
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert type(layer).from_config(config).get_config() == config
