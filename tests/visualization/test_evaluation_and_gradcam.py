"""cnnkit.visualization.evaluation and .gradcam: confusion matrix and classification report against scikit-learn
(or a numpy reference), top losses against numpy, Grad-CAM against Keras's official Grad-CAM recipe (TensorFlow
GradientTape, last activation removed) on the same weights, and the figures' contents."""

import numpy as np
import pytest
import torch

from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.layers import Activation
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import MaxPooling2D
from cnnkit.visualization._mpl import pyplot
from cnnkit.visualization.evaluation import classification_report
from cnnkit.visualization.evaluation import confusion_matrix
from cnnkit.visualization.evaluation import plot_confusion_matrix
from cnnkit.visualization.evaluation import plot_top_losses
from cnnkit.visualization.gradcam import grad_cam
from cnnkit.visualization.gradcam import plot_grad_cam
from cnnkit.visualization.gradcam import upsample

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


def one_hot(labels, k):
    return np.eye(k)[labels]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- confusion matrix ---------------------------------------------------------------------------------------


def test_confusion_matrix_counts_from_indices_one_hot_and_probabilities(rng):
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    probs = softmax(one_hot(y_pred, 4) * 3 + rng.random((200, 4)))
    assert probs.argmax(1).tolist() == y_pred.tolist()
    cm = confusion_matrix(y_true, y_pred)
    assert cm.dtype == np.int64 and cm.tolist() == expected.tolist()
    assert confusion_matrix(one_hot(y_true, 4), probs).tolist() == expected.tolist()
    assert confusion_matrix(y_true[:, None], y_pred.astype(float)).tolist() == expected.tolist()
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert cm.tolist() == sklearn_metrics.confusion_matrix(y_true, y_pred).tolist()


def test_confusion_matrix_size_and_errors():
    assert confusion_matrix([0, 1], [1, 1], num_classes=3).tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]
    # a one-hot argument fixes K even when the last classes never occur
    assert confusion_matrix(one_hot([0, 1], 4), [0, 0]).shape == (4, 4)
    # one probability per sample: a binary prediction thresholded at 0.5
    assert confusion_matrix([0, 1, 1], np.array([[0.2], [0.7], [0.4]])).tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="same number of samples. Received 3 labels and 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="y_true holds class 3, but num_classes=3"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="must be >= 0"):
        confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2, 2)), [0, 1])


def test_plot_confusion_matrix_cells_labels_and_normalisation(tmp_path):
    y_true, y_pred = [0, 0, 1, 1, 1, 2, 2, 2, 2], [0, 1, 1, 1, 2, 2, 2, 0, 2]
    cm = confusion_matrix(y_true, y_pred)
    fig = plot_confusion_matrix(y_true, y_pred, class_names=["cat", "dog", "fox"], path=tmp_path / "cm.png")
    ax = fig.axes[0]
    assert np.asarray(ax.images[0].get_array()).tolist() == cm.tolist()
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "fox"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "fox"]
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    fig = plot_confusion_matrix(np.array([[3, 1], [0, 0]]), normalize=True)
    ax = fig.axes[0]
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), [[0.75, 0.25], [0.0, 0.0]])
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.00", "0.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 class_names for a 3x3 matrix"):
        plot_confusion_matrix(np.eye(3, dtype=int), class_names=["a", "b"])


# ---- classification report ----------------------------------------------------------------------------------


def numpy_report(y_true, y_pred, labels):
    """Independent reference: per-class scores by direct counting (0/0 -> 0)."""
    rows = {}
    for c in labels:
        tp = np.sum((y_true == c) & (y_pred == c))
        predicted, support = np.sum(y_pred == c), np.sum(y_true == c)
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        rows[c] = (p, r, 2 * p * r / (p + r) if p + r else 0.0, support)
    return rows


def test_classification_report_matches_sklearn_text_and_dict(rng):
    y_true = rng.integers(0, 5, 120)
    y_pred = np.where(rng.random(120) < 0.5, y_true, rng.integers(0, 4, 120))
    y_pred[y_pred == 4] = 0  # class 4 is never predicted: its precision is 0/0
    names = ["airplane", "car", "bird", "cat", "deer"]
    report = classification_report(y_true, softmax(one_hot(y_pred, 5) * 4), class_names=names, output_dict=True)
    reference = numpy_report(y_true, y_pred, range(5))
    for c, name in enumerate(names):
        np.testing.assert_allclose([report[name][h] for h in ("precision", "recall", "f1-score", "support")],
                                   reference[c])
    assert report["deer"]["precision"] == 0.0 and report["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    np.testing.assert_allclose(report["macro avg"]["f1-score"], np.mean([reference[c][2] for c in range(5)]))

    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    for kwargs in ({}, {"class_names": names}):
        ours_text = classification_report(y_true, y_pred, **kwargs)
        ours_dict = classification_report(one_hot(y_true, 5), y_pred, output_dict=True, **kwargs)
        sk = {"target_names": names, "labels": list(range(5))} if kwargs else {}
        assert ours_text == sklearn_metrics.classification_report(y_true, y_pred, zero_division=0, **sk)
        expected = sklearn_metrics.classification_report(y_true, y_pred, zero_division=0, output_dict=True, **sk)
        assert list(ours_dict) == list(expected)
        for key, value in expected.items():
            if isinstance(value, dict):
                assert list(ours_dict[key]) == list(value)
                np.testing.assert_allclose(list(ours_dict[key].values()), list(value.values()), rtol=1e-12)
            else:
                assert ours_dict[key] == pytest.approx(value, rel=1e-12)
    # without class names the rows are the classes that occur, as in sklearn (class 1 occurs nowhere here)
    text = classification_report([0, 2, 2, 3], [0, 2, 3, 3])
    assert text == sklearn_metrics.classification_report([0, 2, 2, 3], [0, 2, 3, 3], zero_division=0)
    assert "\n           1 " not in text and text.splitlines()[2].split() == ["0", "1.00", "1.00", "1.00", "1"]
    with pytest.raises(ValueError, match="same number of samples"):
        classification_report([0, 1], [0])


# ---- top losses ---------------------------------------------------------------------------------------------


def small_classifier():
    return Sequential([Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), Flatten(),
                       Dense(4, activation="softmax")])


def test_plot_top_losses_matches_numpy(rng, tmp_path):
    model = small_classifier()
    x = rng.random((20, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 4, 20)
    probs = model.predict(x, verbose=0).astype(np.float64)
    losses = -np.log(np.clip(probs[np.arange(20), y], 1e-7, 1 - 1e-7))
    worst = np.argsort(-losses)[:5]
    fig = plot_top_losses(model, x, y, k=5, class_names=list("abcd"), path=tmp_path / "top.png")
    indices, top = fig.top_losses
    assert indices.tolist() == worst.tolist()
    np.testing.assert_allclose(top, losses[worst], rtol=1e-5)
    assert np.all(np.diff(top) <= 0)
    assert len(fig.axes) == 5 and fig._suptitle.get_text() == "prediction/actual/loss/probability"
    pred = probs.argmax(1)
    for ax, i in zip(fig.axes, worst):
        assert ax.get_title() == f"{'abcd'[pred[i]]}/{'abcd'[y[i]]}/{losses[i]:.2f}/{probs[i, y[i]]:.2f}"
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), x[i, ..., 0], rtol=1e-6)
    assert (tmp_path / "top.png").stat().st_size > 0
    # one-hot labels give the same ranking; k larger than the data is clipped
    fig = plot_top_losses(model, x, one_hot(y, 4), k=50)
    assert fig.top_losses[0].tolist() == np.argsort(-losses, kind="stable").tolist() and len(fig.axes) == 20
    with pytest.raises(ValueError, match="x has 20 samples, y has 3 labels"):
        plot_top_losses(model, x, y[:3])


# ---- Grad-CAM -----------------------------------------------------------------------------------------------


def build_functional(keras_layers=None):
    """The same small convnet in cnnkit and (optionally) Keras, functional, layers named alike."""
    inputs = Input(shape=(16, 16, 3))
    x = Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = MaxPooling2D(name="pool_a")(x)
    x = Conv2D(6, 3, activation="relu", name="conv_b")(x)
    x = Flatten(name="flat")(x)
    model = Model(inputs, Dense(5, activation="softmax", name="probs")(x))
    for layer in model.layers:
        for w in layer.weights:
            with torch.no_grad():
                w.add_(torch.rand(w.shape, generator=torch.Generator().manual_seed(len(layer.name))) * 0.1)
    if keras_layers is None:
        return model
    k = keras_layers
    k_in = k.Input((16, 16, 3))
    y = k.Conv2D(4, 3, activation="relu", name="conv_a")(k_in)
    y = k.MaxPooling2D(name="pool_a")(y)
    y = k.Conv2D(6, 3, activation="relu", name="conv_b")(y)
    y = k.Flatten(name="flat")(y)
    return model, (k_in, k.Dense(5, activation="softmax", name="probs")(y))


def keras_grad_cam(keras, tensors, weights, image, layer_name, pred_index=None):
    """Keras's official Grad-CAM example (keras.io/examples/vision/grad_cam), last activation removed."""
    import tensorflow as tf  # noqa: PLC0415

    keras_model = keras.Model(*tensors)
    keras_model.set_weights(weights)
    keras_model.layers[-1].activation = None
    grad_model = keras.Model(keras_model.input, [keras_model.get_layer(layer_name).output, keras_model.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(image)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy(), int(pred_index)


def test_grad_cam_matches_keras_example(keras, rng):
    model, tensors = build_functional(keras.layers)
    image = rng.random((1, 16, 16, 3)).astype("float32")
    weights = model.get_weights()
    for layer, class_index in (("conv_b", None), ("conv_b", 2), ("conv_a", 4), ("pool_a", 1)):
        expected, top = keras_grad_cam(keras, tensors, weights, image, layer, class_index)
        ours = grad_cam(model, image, layer=layer, class_index=class_index)
        assert ours.shape == expected.shape and ours.dtype == np.float32
        assert expected.max() == pytest.approx(1.0) and np.isfinite(expected).all()
        np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert top == 1
    # default layer: the last convolution (not the pooling after it), default class: the top prediction
    probs = model.predict(image, verbose=0)
    np.testing.assert_array_equal(grad_cam(model, image[0]),
                                  grad_cam(model, image, layer="conv_b", class_index=int(probs.argmax())))
    np.testing.assert_allclose(model.predict(image, verbose=0).sum(), 1.0, rtol=1e-6)  # softmax restored


def test_grad_cam_sequential_inputs_softmax_head_and_frozen(rng):
    layers = [Conv2D(5, 3, activation="relu", input_shape=(10, 10, 1), name="c1"), MaxPooling2D(),
              Conv2D(7, 3, activation="relu", padding="same", name="c2"), GlobalAveragePooling2D(), Dense(3)]
    model = Sequential(layers)
    image = rng.random((10, 10, 1)).astype("float32")
    cam = grad_cam(model, image, layer="c2", class_index=0)
    assert cam.shape == (4, 4) and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    assert grad_cam(model, image, class_index=0).tolist() == cam.tolist()  # default: c2 (GAP skipped)
    for same in (image[None], image[..., 0], torch.as_tensor(image)):
        np.testing.assert_allclose(grad_cam(model, same, layer=model.get_layer("c2"), class_index=0), cam)
    # reference by hand: the logit of a linear head with GAP is sum_k w_kc mean(A_k), so d/dA_k = w_kc / (H W)
    features = Model(model.inputs, model.get_layer("c2").output).predict(image[None], verbose=0)[0]
    kernel = model.layers[-1].get_weights()[0][:, 0]
    reference = np.maximum(features @ (kernel / 16.0), 0)
    np.testing.assert_allclose(cam, reference / reference.max(), atol=1e-5)
    # a softmax head (as activation or as a layer) is explained through its logits: same map
    model_softmax = Sequential([Conv2D(5, 3, activation="relu", input_shape=(10, 10, 1)), MaxPooling2D(),
                                Conv2D(7, 3, activation="relu", padding="same", name="d2"),
                                GlobalAveragePooling2D(), Dense(3), Activation("softmax")])
    model_softmax.set_weights(model.get_weights())
    np.testing.assert_allclose(grad_cam(model_softmax, image, class_index=0), cam, atol=1e-6)
    # a frozen model still has gradients with respect to its feature maps
    model.trainable = False
    np.testing.assert_allclose(grad_cam(model, image, layer="c2", class_index=0), cam, atol=1e-6)


def test_grad_cam_errors_and_all_zero_map(rng):
    model = build_functional()
    image = rng.random((16, 16, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"no layer named 'conv_bb'\. Did you mean 'conv_b'\?.*\['conv_a', 'pool_a', "
                                         r"'conv_b'\]"):
        grad_cam(model, image, layer="conv_bb")
    with pytest.raises(ValueError, match="layer 'flat' has output shape \\(None, 150\\); Grad-CAM needs a 4-D"):
        grad_cam(model, image, layer="flat")
    with pytest.raises(ValueError, match=r"class_index must be an int in \[0, 5\)"):
        grad_cam(model, image, class_index=5)
    with pytest.raises(ValueError, match=r"one image of shape \(16, 16, 3\)"):
        grad_cam(model, np.zeros((2, 16, 16, 3)))
    dead = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1), name="dead"), Flatten(), Dense(2)])
    kernel, bias = dead.layers[0].get_weights()
    dead.layers[0].set_weights([np.zeros_like(kernel), bias - 1.0])
    cam = grad_cam(dead, np.ones((6, 6, 1)))
    assert cam.shape == (4, 4) and not cam.any() and np.isfinite(cam).all()


def test_plot_grad_cam_panels_overlay_and_upsampling(keras, rng, tmp_path):
    import tensorflow as tf  # noqa: PLC0415

    model = build_functional()
    image = rng.random((16, 16, 3)).astype("float32")
    fig = plot_grad_cam(model, image, layer="conv_b", class_index=3, alpha=0.5, path=tmp_path / "cam.png",
                        class_names=list("abcde"))
    heatmap = grad_cam(model, image, layer="conv_b", class_index=3)
    np.testing.assert_array_equal(fig.heatmap, heatmap)
    assert fig.class_index == 3 and fig.layer_name == "conv_b"
    assert [ax.get_title() for ax in fig.axes] == ["image", "Grad-CAM: conv_b", "overlay (class d (3))"]
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), image, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()), heatmap)
    # the overlay blends the image with the jet-coloured heat map upsampled bilinearly to the image size
    large = upsample(heatmap, (16, 16))
    np.testing.assert_allclose(large, tf.image.resize(heatmap[None, ..., None], (16, 16)).numpy()[0, ..., 0],
                               atol=1e-6)
    colored = pyplot().get_cmap("jet")(large)[..., :3]
    np.testing.assert_allclose(fig.overlay, 0.5 * image + 0.5 * colored, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.axes[2].images[0].get_array()), fig.overlay)
    assert (tmp_path / "cam.png").stat().st_size > 0
    np.testing.assert_allclose(plot_grad_cam(model, image, alpha=0.0).overlay, image, atol=1e-6)
    with pytest.raises(ValueError, match="alpha must be in"):
        plot_grad_cam(model, image, alpha=1.5)


def test_most_confused_counts_mistakes_like_a_counter():
    import collections  # noqa: PLC0415

    from cnnkit.visualization import most_confused  # noqa: PLC0415

    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    names = ["a", "b", "c", "d"]
    counts = collections.Counter((names[t], names[p]) for t, p in zip(y_true, y_pred) if t != p)
    expected = sorted(((t, p, n) for (t, p), n in counts.items()), key=lambda r: (-r[2], r[0], r[1]))
    assert most_confused(y_true, np.eye(4)[y_pred], class_names=names) == expected
    assert most_confused(y_true, y_pred, class_names=names, min_count=15) == [r for r in expected if r[2] >= 15]
    assert most_confused([0, 1], [0, 1]) == []
    with pytest.raises(ValueError, match="min_count must be a positive int"):
        most_confused(y_true, y_pred, min_count=0)
