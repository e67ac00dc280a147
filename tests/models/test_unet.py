"""A small U-Net built from the new layers (SeparableConv2D, DepthwiseConv2D, Conv2DTranspose, UpSampling2D,
concatenate, LayerNormalization, ReLU(6)): it trains with `fit` as Keras trains it (same weights, same steps), and its
`.keras` file opens in Keras with the same predictions, and the reverse."""

import numpy as np
import pytest

import cnnkit

SHAPE = (16, 16, 3)


def unet(k):
    L = k.layers
    inputs = L.Input(shape=SHAPE, name="image")
    x = L.SeparableConv2D(8, 3, padding="same", name="enc1")(inputs)
    x = L.LayerNormalization(name="enc1_norm")(x)
    skip = L.ReLU(6.0, name="enc1_relu6")(x)
    x = L.MaxPooling2D(name="down")(skip)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="mid_dw")(x)
    x = L.BatchNormalization(name="mid_bn")(x)
    x = L.ReLU(6.0, name="mid_relu6")(x)
    up_a = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="up_t")(x)
    up_b = L.UpSampling2D(interpolation="bilinear", name="up_b")(L.Conv2D(8, 1, name="mid_proj")(x))
    x = L.concatenate([up_a, up_b, skip], name="join")
    x = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="dec1")(x)
    outputs = L.Conv2D(2, 1, activation="softmax", name="mask")(x)
    return k.models.Model(inputs, outputs, name="unet")


def _data(rng, n=8):
    x = rng.uniform(0, 1, (n, *SHAPE)).astype("float32")
    y = (x[..., :1] > 0.5).astype("int64")[..., 0]
    return x, y


def _randomize(model, rng):
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if w.ndim == 1 else
                       rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])


def test_unet_summary_counts_and_fit_match_keras(keras):
    rng = np.random.default_rng(0)
    reference, model = unet(keras), unet(cnnkit)
    assert model.count_params() == reference.count_params()
    assert [layer.name for layer in model.layers] == [layer.name for layer in reference.layers]
    assert model.output_shape == tuple(reference.output_shape)
    _randomize(reference, rng)
    model.set_weights(reference.get_weights())
    x, y = _data(rng)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(reference(x)), atol=1e-5)
    for kit, m in ((keras, reference), (cnnkit, model)):
        m.compile(optimizer=kit.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    theirs = reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    mine = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(mine, theirs, rtol=1e-4)
    assert mine[1] < mine[0]
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, atol=2e-4)


@pytest.mark.parametrize("writer", ["cnnkit", "keras"])
def test_unet_keras_file_both_ways(keras, tmp_path, writer):
    rng = np.random.default_rng(1)
    x, y = _data(rng, 4)
    path = str(tmp_path / "unet.keras")
    if writer == "cnnkit":
        model = unet(cnnkit)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=2, epochs=1, verbose=0)
        expected = model.predict(x, verbose=0)
        model.save(path)
        loaded = keras.models.load_model(path)
        got = np.asarray(loaded(x))
    else:
        model = unet(keras)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=2, epochs=1, verbose=0)
        expected = np.asarray(model(x))
        model.save(path)
        loaded = cnnkit.models.load_model(path)
        got = loaded.predict(x, verbose=0)
        loaded.fit(x, y, batch_size=2, epochs=1, verbose=0)  # the optimizer state came along: training goes on
    np.testing.assert_allclose(got, expected, atol=1e-5)
