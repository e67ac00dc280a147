"""cnnkit.applications.convnext against keras.applications.convnext: weights in Keras's published layout (nested
stem/downsampling Sequential models, LayerScale), predictions (the model normalizes inside), .keras files back to
Keras (LayerScale and the residual sums as Keras writes them), parameter counts, Keras's argument errors, a frozen
backbone cached; and the LayerScale / StochasticDepth layers against Keras's own classes."""

import numpy as np
import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import ConvNeXtBase
from cnnkit.applications import ConvNeXtLarge
from cnnkit.applications import ConvNeXtSmall
from cnnkit.applications import ConvNeXtTiny
from cnnkit.applications import ConvNeXtXLarge
from cnnkit.applications import convnext
from cnnkit.layers import Dense
from cnnkit.layers import Input
from cnnkit.layers.residual import LayerScale
from cnnkit.layers.residual import StochasticDepth
from cnnkit.models import Model
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model
from tests.applications.family_checks import zero_initial_weights


@pytest.mark.parametrize("include_top, kwargs", [(False, dict(pooling="avg")), (True, dict(classes=5))])
def test_convnext_tiny_against_keras(keras, zoo, tmp_path, include_top, kwargs):
    zoo.check_against_keras(keras, tmp_path, "ConvNeXtTiny", "convnext", (32, 32, 3), include_top=include_top,
                            file_round_trip=include_top, **kwargs)


# Keras's parameter counts (include_top=True), measured from keras.applications 3.15. Tiny is compared live; the
# others are Keras's numbers, built here with zero initial weights (Large and XLarge allocate 0.8 and 1.4 GB).
def test_convnext_parameter_counts(keras):
    keras.backend.clear_session()
    assert ConvNeXtTiny(weights=None).count_params() == keras.applications.ConvNeXtTiny(
        weights=None).count_params() == 28589128
    with zero_initial_weights():
        assert ConvNeXtSmall(weights=None).count_params() == 50223688
        assert ConvNeXtBase(weights=None).count_params() == 88591464
        assert ConvNeXtLarge(weights=None).count_params() == 197767336
        assert ConvNeXtXLarge(weights=None).count_params() == 350196968


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", name="my_model"), "does not match weights variant"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
])
def test_convnext_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNeXtTiny(**kwargs)
    with pytest.raises(ValueError):
        keras.applications.ConvNeXtTiny(**kwargs)


def test_convnext_frozen_backbone_cached_fit():
    backbone = ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert not any(layer.stochastic for layer in backbone.layers)
    assert np.isfinite(fit_cached(frozen_backbone_model(backbone), (32, 32, 3)).history["loss"][0])
    entry = APPLICATIONS.lookup("convnexttiny")
    assert entry.preprocessing == "none" and backbone.get_layer(entry.last_conv).output.shape == (None, 1, 1, 768)
    assert convnext.WEIGHTS_FILES["convnext_base"][False].fname == "convnext_base_notop.h5"


def test_layer_scale_and_stochastic_depth_interchange_with_keras(keras, tmp_path):
    from keras.src.applications.convnext import LayerScale as KerasLayerScale  # noqa: PLC0415
    from keras.src.applications.convnext import StochasticDepth as KerasStochasticDepth  # noqa: PLC0415

    x = Input((4, 4, 6))
    y = x + StochasticDepth(0.25, name="drop_path")(LayerScale(0.5, 6, name="scale")(Dense(6, name="d")(x)))
    ours = Model(x, y)
    ours.get_layer("scale").set_weights([np.arange(6, dtype="float32")])
    data = np.random.default_rng(0).normal(size=(3, 4, 4, 6)).astype("float32")
    ours.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras", custom_objects={
        "LayerScale": KerasLayerScale, "StochasticDepth": KerasStochasticDepth})
    assert isinstance(theirs.get_layer("scale"), KerasLayerScale)
    np.testing.assert_allclose(theirs.predict(data, verbose=0), ours.predict(data, verbose=0), rtol=1e-5, atol=1e-6)
    assert theirs.get_layer("drop_path").get_config()["drop_path_rate"] == 0.25
    theirs.save(tmp_path / "theirs.keras")
    again = cnnkit.models.load_model(tmp_path / "theirs.keras")
    assert isinstance(again.get_layer("scale"), LayerScale) and again.get_layer("drop_path").stochastic
    np.testing.assert_allclose(again.predict(data, verbose=0), ours.predict(data, verbose=0), rtol=1e-5, atol=1e-6)
    # Drop path in training: whole samples zeroed, the others divided by the keep probability.
    layer = StochasticDepth(0.5)
    out = layer(np.ones((64, 2, 2, 3), "float32"), training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out[:, 0, 0, 0] == 0).sum() < 64
    assert (out == out[:, :1, :1, :1]).all()
    assert not StochasticDepth(0.0).stochastic
    with pytest.raises(ValueError, match="drop_path_rate"):
        StochasticDepth(1.0)
