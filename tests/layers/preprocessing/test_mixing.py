"""MixUp and CutMix against Keras 3: with the draw pinned (the layer's transform made to return chosen parameters),
the images and labels equal Keras's `transform_images` / `transform_labels` given the same parameters and an
independent numpy computation of Keras's formulas; the draws follow Keras's distributions; identity unless
training; configs and files interchange with Keras; usable mapped over an image_dataset_from_directory dataset."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.layers import CutMix
from cnnkit.layers import Input
from cnnkit.layers import MixUp
from cnnkit.models import Sequential

N, H, W, C, K = 4, 5, 7, 2, 3
PERMUTATION = np.array([2, 0, 3, 1])


@pytest.fixture
def batch(rng):
    images = rng.uniform(0, 255, (N, H, W, C)).astype(np.float32)
    labels = np.eye(K, dtype=np.float32)[[0, 2, 1, 2]]
    return images, labels


def pin(layer, params, monkeypatch):
    monkeypatch.setattr(layer.transform, "draw", lambda images, rng: params)


# ---- pinned draws equal Keras ------------------------------------------------------------------------------------
def test_mixup_equals_keras_with_pinned_draw(keras, batch, monkeypatch):
    images, labels = batch
    weight = np.array([0.1, 0.5, 0.93, 0.3], np.float32)
    layer = MixUp(alpha=0.3)
    pin(layer, {"permutation": PERMUTATION, "weight": weight, "label_weight": weight}, monkeypatch)
    out = layer({"images": images, "labels": labels})
    klayer = keras.layers.MixUp(alpha=0.3)
    transformation = {"mix_weight": weight, "permutation_order": PERMUTATION}
    k_images = np.asarray(klayer.transform_images(images, transformation, training=True))
    k_labels = np.asarray(klayer.transform_labels(labels, transformation, training=True))
    np.testing.assert_allclose(out["images"].numpy(), k_images, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(out["labels"].numpy(), k_labels, rtol=1e-6, atol=1e-7)
    w = weight[:, None, None, None]  # Keras's formula, in numpy
    np.testing.assert_allclose(out["images"].numpy(), w * images + (1 - w) * images[PERMUTATION], rtol=1e-5)
    plain = MixUp(alpha=0.3)
    pin(plain, {"permutation": PERMUTATION, "weight": weight, "label_weight": weight}, monkeypatch)
    np.testing.assert_allclose(plain(images).numpy(), k_images, rtol=1e-6, atol=1e-4)  # a plain image batch


def cut_box():
    """Boxes with fractional corners (x0, x1 along the width W=7, y0, y1 along the height H=5), one per image."""
    return {"x0": np.array([0.5, 2.0, 0.0, 3.2], np.float32), "x1": np.array([3.5, 4.0, 7.0, 5.9], np.float32),
            "y0": np.array([1.2, 0.0, 2.5, 0.1], np.float32), "y1": np.array([4.0, 2.0, 5.0, 3.3], np.float32)}


def test_cutmix_equals_keras_with_pinned_draw(keras, batch, monkeypatch):
    images, labels = batch
    box = cut_box()
    kept = 1 - (box["x1"] - box["x0"]) * (box["y1"] - box["y0"]) / (W * H)
    layer = CutMix(factor=0.8)
    pin(layer, dict(box, permutation=PERMUTATION, label_weight=kept), monkeypatch)
    out = layer({"images": images, "labels": labels})
    # Keras's mask formula, in numpy: pixel (y, x) of image i comes from image p(i) when x0 <= x < x1, y0 <= y < y1
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    inside = ((xs >= box["x0"][:, None, None]) & (xs < box["x1"][:, None, None]) &
              (ys >= box["y0"][:, None, None]) & (ys < box["y1"][:, None, None]))[..., None]
    expected = np.where(inside, images[PERMUTATION], images)
    np.testing.assert_array_equal(out["images"].numpy(), expected)
    assert 0 < inside.sum() < inside.size
    klayer = keras.layers.CutMix(factor=0.8)
    transformation = {"permutation_order": PERMUTATION, "batch_masks": np.repeat(inside, C, axis=-1),
                      "mix_weight": kept[:, None, None, None]}
    np.testing.assert_array_equal(out["images"].numpy(),
                                  np.asarray(klayer.transform_images(images, transformation, training=True)))
    np.testing.assert_allclose(out["labels"].numpy(),
                               np.asarray(klayer.transform_labels(labels, transformation, training=True)), rtol=1e-6)


def test_cutmix_draws_follow_keras(batch):
    """Keras: a ~ U(factor) + 1e-6, w ~ Beta(a, a), box sides sqrt(1 - w) * (W, H) at uniform positions inside the
    image; the label weight is the kept area."""
    images, _ = batch
    params = CutMix(factor=(0.2, 0.9)).transform.draw(torch.as_tensor(images), np.random.default_rng(0))
    width, height = params["x1"] - params["x0"], params["y1"] - params["y0"]
    np.testing.assert_allclose(width / W, height / H, rtol=1e-5)  # one ratio for both sides
    assert (params["x0"] >= 0).all() and (params["x1"] <= W + 1e-5).all()
    assert (params["y0"] >= 0).all() and (params["y1"] <= H + 1e-5).all()
    np.testing.assert_allclose(params["label_weight"], 1 - width * height / (W * H), rtol=1e-5)
    assert sorted(params["permutation"]) == list(range(N))


def test_mixup_draws_beta_per_image(batch):
    draw = MixUp(alpha=0.5).transform.draw(torch.as_tensor(batch[0]), np.random.default_rng(0))
    assert sorted(draw["permutation"]) == list(range(N))
    assert len(set(draw["weight"].tolist())) == N and ((draw["weight"] > 0) & (draw["weight"] < 1)).all()
    many = MixUp(alpha=0.5).transform.draw(torch.zeros(4000, 1, 1, 1), np.random.default_rng(1))["weight"]
    assert abs(many.mean() - 0.5) < 0.02 and abs(many.var() - 0.125) < 0.01  # Beta(0.5, 0.5): mean 1/2, var 1/8


# ---- behaviour ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_identity_unless_training(cls, batch):
    images, labels = batch
    out = cls(seed=1)({"images": images, "labels": labels}, training=False)
    np.testing.assert_array_equal(out["images"].numpy(), images)
    np.testing.assert_array_equal(out["labels"].numpy(), labels)
    model = Sequential([Input((H, W, C)), cls(seed=1)])
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)
    trained = cls(seed=1)({"images": images, "labels": labels})  # a direct call trains (Keras's default)
    assert not np.array_equal(trained["images"].numpy(), images)
    np.testing.assert_allclose(trained["labels"].numpy().sum(1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_seeds_repeat_and_calls_differ(cls, batch):
    images, labels = batch
    first, again = cls(seed=3), cls(seed=3)
    a, b = first({"images": images, "labels": labels}), again({"images": images, "labels": labels})
    np.testing.assert_array_equal(a["images"].numpy(), b["images"].numpy())
    c = first({"images": images, "labels": labels})
    assert not np.array_equal(a["labels"].numpy(), c["labels"].numpy())


@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_single_image_unchanged(cls, batch):
    images, labels = batch
    out = cls(seed=0)({"images": images[0], "labels": labels[0]})
    assert out["images"].shape == (H, W, C) and out["labels"].shape == (K,)
    np.testing.assert_array_equal(out["images"].numpy(), images[0])  # Keras: mixed with itself (MixUp) or kept
    assert cls(seed=0)(images[0].astype(np.uint8)).dtype == torch.float32


def test_mixup_mapped_over_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        os.makedirs(tmp_path / name)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    ds = cnnkit.utils.image_dataset_from_directory(tmp_path, image_size=(6, 6), batch_size=4, label_mode="categorical",
                                                   verbose=False, workers=1)
    mix_up = MixUp(alpha=0.4, seed=0)
    mixed = ds.map(lambda x, y: mix_up({"images": x, "labels": y}))
    elements = list(mixed)
    assert [e["images"].shape for e in elements] == [(4, 6, 6, 3), (4, 6, 6, 3), (1, 6, 6, 3)]
    assert all(isinstance(e["labels"], np.ndarray) and np.allclose(e["labels"].sum(1), 1) for e in elements)
    pairs = mixed.map(lambda d: (d["images"], d["labels"]))  # then into fit, as Keras's examples do
    model = Sequential([Input((6, 6, 3)), cnnkit.layers.Flatten(), cnnkit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert len(model.fit(pairs, epochs=1, verbose=0).history["loss"]) == 1


# ---- config, files, errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda m: m.layers.MixUp(alpha=0.35, seed=7),
                                  lambda m: m.layers.CutMix(factor=(0.2, 0.6), seed=2),
                                  lambda m: m.layers.CutMix(0.5)])
def test_config_interchanges_with_keras(keras, make):
    mine, theirs = make(cnnkit), make(keras)
    cfg = json.loads(json.dumps(mine.get_config()))
    assert type(mine).from_config(cfg).get_config() == mine.get_config()
    expected = {k: (list(v) if isinstance(v, tuple) else v) for k, v in theirs.get_config().items() if k != "dtype"}
    assert {k: v for k, v in cfg.items() if k != "dtype"} == expected | {"name": cfg["name"]}
    assert type(theirs).from_config(cfg).get_config()["seed"] == cfg["seed"]  # ours loads in Keras
    assert type(mine).from_config(theirs.get_config()).get_config() == type(mine).from_config(
        json.loads(json.dumps(theirs.get_config()))).get_config()


@pytest.mark.parametrize("make", [lambda m: m.layers.MixUp(alpha=0.35, seed=7),
                                  lambda m: m.layers.CutMix(factor=(0.2, 0.6), seed=2)])
def test_model_files_interchange_with_keras(files, make, tmp_path):
    files.check(make, (H, W, C), tmp_path)


@pytest.mark.parametrize("call, message", [
    (lambda: CutMix(factor=1.5), r"The `factor` argument should be a number .* Received: factor=1.5"),
    (lambda: CutMix(factor=(0.1, 0.2, 0.3)), r"Received: factor=\(0.1, 0.2, 0.3\)"),
    (lambda: CutMix(factor="x"), "Received: factor=x"),
    (lambda: MixUp(alpha=-1), "MixUp: alpha"),
    (lambda: MixUp(alpha=0), "MixUp: alpha must be > 0"),
    (lambda: MixUp(data_format="channels_first"), "data_format"),
    (lambda: MixUp()({"images": np.zeros((2, 4, 4, 1)), "boxes": np.zeros((2, 4))}), "keys"),
    (lambda: MixUp()({"images": np.zeros((2, 4, 4, 1)), "labels": np.zeros(2)}), "labels must be one-hot"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
