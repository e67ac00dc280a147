"""cnnkit.visualization: figure content (axes, titles, image and line data against numpy/torch references), files,
headless use, lazy matplotlib, and the seeds' plotting blocks (003, 004) with the module name changed."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("matplotlib")

from cnnkit import Sequential  # noqa: E402
from cnnkit import layers as L  # noqa: E402
from cnnkit.callbacks import History  # noqa: E402
from cnnkit.models import Model  # noqa: E402
from cnnkit.ops import SOBEL_HORIZONTAL, SOBEL_VERTICAL  # noqa: E402
from cnnkit.visualization import _mpl  # noqa: E402
from cnnkit.visualization import plot_feature_maps  # noqa: E402
from cnnkit.visualization import plot_filters  # noqa: E402
from cnnkit.visualization import plot_history  # noqa: E402
from cnnkit.visualization import plot_kernel_response  # noqa: E402
from cnnkit.visualization import show_batch  # noqa: E402


@pytest.fixture(autouse=True)
def plt():
    pyplot = _mpl.pyplot()
    yield pyplot
    pyplot.close("all")


def image_data(ax, index=0):
    return np.asarray(ax.images[index].get_array())


def norm01(a):
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else np.zeros_like(a)


def torch_kernel(layer):
    """The layer's kernel read from its torch parameter (O, I, H, W) and put in Keras layout (H, W, I, O)."""
    return layer.kernel.detach().permute(2, 3, 1, 0).numpy()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env.update(extra)
    return env


# ---- lazy import, headless backend, missing matplotlib ------------------------------------------------------------

def test_importing_cnnkit_and_visualization_does_not_import_matplotlib():
    code = ("import sys, cnnkit, cnnkit.visualization, cnnkit.callbacks; cnnkit.callbacks.History(); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env(), timeout=120)


def test_headless_pyplot_uses_agg_and_respects_a_chosen_backend():
    # _mpl.py loaded by path (it imports only the standard library), so the subprocesses skip torch's import.
    code = ("import importlib.util, matplotlib; spec = importlib.util.spec_from_file_location('m', "
            f"{_mpl.__file__!r}); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "m.pyplot(); print(matplotlib.get_backend().lower())")
    out = subprocess.run([sys.executable, "-c", code], check=True, env=clean_env(), capture_output=True, text=True,
                         timeout=120).stdout.split()
    assert out[-1] == "agg"
    out = subprocess.run([sys.executable, "-c", code], check=True, env=clean_env(MPLBACKEND="svg"),
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert out[-1] == "svg"


def test_missing_matplotlib_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        _mpl.pyplot()


# ---- plot_history ---------------------------------------------------------------------------------------------------

HISTORY = {"accuracy": [0.5, 0.7, 0.8], "loss": [1.2, 0.8, 0.5], "val_accuracy": [0.45, 0.6, 0.65],
           "val_loss": [1.3, 1.0, 0.9]}


def test_plot_history_panels_lines_and_legends():
    fig = plot_history(HISTORY)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, name in zip(fig.axes, ["loss", "accuracy"]):
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(train.get_ydata(), HISTORY[name])
        np.testing.assert_array_equal(val.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(val.get_ydata(), HISTORY["val_" + name])
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
        assert ax.get_xlabel() == "Epoch"


def test_plot_history_metric_selection_and_errors():
    fig = plot_history(HISTORY, metrics="val_accuracy")
    assert [ax.get_title() for ax in fig.axes] == ["accuracy"]
    assert len(fig.axes[0].get_lines()) == 2
    fig = plot_history({"loss": [3.0, 2.0]})  # no validation: one line, legend 'training'
    assert len(fig.axes[0].get_lines()) == 1
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["training"]
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        plot_history(HISTORY, metrics=["acuracy"])
    with pytest.raises(ValueError, match="empty"):
        plot_history({})
    with pytest.raises(TypeError, match="History"):
        plot_history([1, 2, 3])


def test_plot_history_validation_every_second_epoch():
    fig = plot_history({"loss": [4.0, 3.0, 2.0, 1.0], "val_loss": [3.5, 1.5]})
    np.testing.assert_array_equal(fig.axes[0].get_lines()[1].get_xdata(), [2, 4])


def test_history_object_from_fit_and_history_plot():
    model = Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.rand(40, 3), np.random.randint(0, 2, 40)
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    assert isinstance(history, History)
    for fig in (plot_history(history), history.plot(), plot_history(history.history)):
        assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
        np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), history.history["loss"])
        np.testing.assert_allclose(fig.axes[1].get_lines()[1].get_ydata(), history.history["val_accuracy"])
    fig = history.plot(metrics=["loss"])
    assert len(fig.axes) == 1


# ---- saving -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext,magic", [("png", b"\x89PNG"), ("svg", b"<svg"), ("pdf", b"%PDF")])
def test_saving_by_extension(tmp_path, ext, magic):
    path = tmp_path / "nested" / "deeper" / f"curves.{ext}"
    fig = plot_history(HISTORY, path=path)
    assert fig.axes and path.is_file()
    head = path.read_bytes()[:2000]
    assert magic in head
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_to_file_alias_and_save_errors(tmp_path):
    layer = L.Conv2D(2, 3)
    layer.build((None, 5, 5, 1))
    plot_filters(layer, to_file=str(tmp_path / "f.png"))
    assert (tmp_path / "f.png").is_file()
    with pytest.raises(ValueError, match="not both"):
        plot_filters(layer, path=tmp_path / "a.png", to_file=tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"Cannot save a figure as '\.xyz'"):
        plot_history(HISTORY, path=tmp_path / "curves.xyz")


# ---- plot_filters -------------------------------------------------------------------------------------------------

def conv_layer(filters=10, channels=3, kernel=3):
    layer = L.Conv2D(filters, kernel, name="conv_a")
    layer.build((None, 9, 9, channels))
    return layer


def test_plot_filters_grid_titles_and_kernel_slices():
    layer = conv_layer()
    reference = torch_kernel(layer)
    for channel in (0, 2):
        fig = plot_filters(layer, channel=channel)
        assert len(fig.axes) == 10
        assert all(len(ax.images) == 1 for ax in fig.axes)
        assert [ax.get_title() for ax in fig.axes] == [f"filter {i}" for i in range(10)]
        for i, ax in enumerate(fig.axes):
            np.testing.assert_allclose(image_data(ax), reference[:, :, channel, i], rtol=0, atol=1e-7)
            assert ax.images[0].get_cmap().name == "gray"
    fig = plot_filters(layer, max_filters=4)
    assert len(fig.axes) == 4


def test_plot_filters_rgb_is_the_normalised_colour_kernel():
    layer = conv_layer(filters=5)
    reference = torch_kernel(layer)
    expected = (reference - reference.min()) / (reference.max() - reference.min())
    fig = plot_filters(layer, channel="rgb")
    assert len(fig.axes) == 5
    for i, ax in enumerate(fig.axes):
        data = image_data(ax)
        assert data.shape == (3, 3, 3)
        np.testing.assert_allclose(data, expected[..., i], atol=1e-7)
        assert 0.0 <= data.min() and data.max() <= 1.0


def test_plot_filters_errors_name_the_layer():
    dense = L.Dense(3, name="head")
    dense.build((None, 4))
    with pytest.raises(ValueError, match=r"layer 'head' \(Dense\) is not a 2-D convolution"):
        plot_filters(dense)
    with pytest.raises(ValueError, match=r"'raw' \(Conv2D\).*no weights"):
        plot_filters(L.Conv2D(2, 3, name="raw"))
    conv3d = L.Conv3D(2, 3, name="vol")
    conv3d.build((None, 5, 5, 5, 1))
    with pytest.raises(ValueError, match=r"'vol' \(Conv3D\)"):
        plot_filters(conv3d)
    layer = conv_layer(channels=3)
    with pytest.raises(ValueError, match=r"channel must be in \[0, 3\).*conv_a.*Received: channel=3"):
        plot_filters(layer, channel=3)
    with pytest.raises(ValueError, match="3 input channels"):
        plot_filters(conv_layer(channels=1), channel="rgb")


# ---- plot_feature_maps --------------------------------------------------------------------------------------------

def torch_conv(x_hwc, layer, relu):
    """Keras-layout 'valid' conv with the layer's torch parameters, computed here with torch (no cnnkit op)."""
    x = torch.as_tensor(x_hwc, dtype=torch.float32).permute(2, 0, 1)[None]
    out = F.conv2d(x, layer.kernel.detach().contiguous(), layer.bias.detach())
    out = torch.relu(out) if relu else out
    return out[0].permute(1, 2, 0).numpy()


def small_sequential():
    return Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(10, 10, 2), name="c1"),
                       L.MaxPooling2D(2, name="p1"), L.Conv2D(3, 3, name="c2"), L.Flatten(),
                       L.Dense(2, name="out")])


def test_plot_feature_maps_sequential_matches_torch_reference():
    model = small_sequential()
    image = np.random.rand(10, 10, 2).astype(np.float32)
    before = model.predict(image[None], verbose=0)
    c1 = torch_conv(image, model.get_layer("c1"), relu=True)
    p1 = F.max_pool2d(torch.as_tensor(c1).permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0).numpy()
    c2 = torch_conv(p1, model.get_layer("c2"), relu=False)
    fig = plot_feature_maps(model, image)
    assert list(fig.feature_maps) == ["c1", "p1", "c2"]
    for name, ref in (("c1", c1), ("p1", p1), ("c2", c2)):
        np.testing.assert_allclose(fig.feature_maps[name], ref, atol=1e-5)
    assert [sub.get_suptitle().split()[0] for sub in fig.subfigs] == ["c1", "p1", "c2"]
    assert len(fig.axes) == 4 + 4 + 3
    for sub, ref in zip(fig.subfigs, (c1, p1, c2)):
        assert [ax.get_title() for ax in sub.axes] == [f"map {j}" for j in range(ref.shape[-1])]
        for j, ax in enumerate(sub.axes):
            np.testing.assert_allclose(image_data(ax), norm01(ref[:, :, j]), atol=1e-4)
    np.testing.assert_allclose(model.predict(image[None], verbose=0), before)  # the model is untouched
    assert len(model.layers) == 5


def test_plot_feature_maps_layer_choice_max_maps_and_input_forms():
    model = small_sequential()
    image = np.random.rand(1, 10, 10, 2)
    fig = plot_feature_maps(model, image, layers=["c2"], max_maps=2)
    assert list(fig.feature_maps) == ["c2"] and len(fig.axes) == 2
    assert fig.feature_maps["c2"].shape == (2, 2, 3)
    fig = plot_feature_maps(model, image, layers=[0, model.get_layer("p1")], max_maps=16)
    assert list(fig.feature_maps) == ["c1", "p1"]
    with pytest.raises(ValueError, match="Did you mean 'c1'"):
        plot_feature_maps(model, image, layers=["c_1"])
    with pytest.raises(ValueError, match=r"'out' \(Dense\) outputs rank-2"):
        plot_feature_maps(model, image, layers=["out"])
    with pytest.raises(ValueError, match="one image"):
        plot_feature_maps(model, np.zeros((2, 10, 10, 2)))
    gray = Sequential([L.Conv2D(2, 3, input_shape=(6, 6, 1), name="g")])
    fig = plot_feature_maps(gray, np.random.rand(6, 6))
    assert fig.feature_maps["g"].shape == (4, 4, 2)


def test_plot_feature_maps_functional_with_branches():
    inputs = L.Input(shape=(8, 8, 3))
    a = L.Conv2D(2, 3, padding="same", name="left")(inputs)
    b = L.Conv2D(2, 1, name="right")(inputs)
    merged = L.Add(name="sum")([a, b])
    pooled = L.AveragePooling2D(2, name="avg")(merged)
    model = Model(inputs, L.Dense(1)(L.Flatten()(pooled)))
    image = np.random.rand(8, 8, 3)
    fig = plot_feature_maps(model, image)
    assert list(fig.feature_maps) == ["left", "right", "avg"]
    fig2 = plot_feature_maps(model, image, layers=["sum"])
    np.testing.assert_allclose(fig2.feature_maps["sum"], fig.feature_maps["left"] + fig.feature_maps["right"],
                               atol=1e-5)


# ---- plot_kernel_response -----------------------------------------------------------------------------------------

def sliding_same(image, kernel):
    """A loop reference: zero padding (K-1)/2 each side, a dot product at each position (no flip)."""
    k = kernel.shape[0]
    padded = np.pad(image.astype(np.float64), k // 2)
    out = np.zeros(image.shape)
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            out[r, c] = np.sum(padded[r:r + k, c:c + k] * kernel)
    return out


def test_plot_kernel_response_sobel_pairs():
    edge = np.zeros((8, 8))
    edge[4:] = 1.0  # a horizontal contour between rows 3 and 4
    colour = np.random.rand(8, 8, 3)
    fig = plot_kernel_response(SOBEL_HORIZONTAL, [edge, colour])
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == ["original 0", "response 0", "original 1", "response 1"]
    np.testing.assert_allclose(image_data(fig.axes[0]), edge)
    np.testing.assert_allclose(image_data(fig.axes[2]), colour.mean(axis=-1))
    for i, gray in enumerate((edge, colour.mean(axis=-1))):
        reference = sliding_same(gray, SOBEL_HORIZONTAL)
        np.testing.assert_allclose(fig.responses[i], reference, atol=1e-12)
        np.testing.assert_allclose(image_data(fig.axes[2 * i + 1]), reference, atol=1e-12)
    # The horizontal Sobel kernel lights up only at the contour rows (inside the image), the vertical one not at all.
    inner = fig.responses[0][1:-1, 1:-1]
    assert np.all(inner[2:4] == 4.0) and np.all(np.delete(inner, [2, 3], axis=0) == 0.0)
    vertical = plot_kernel_response(SOBEL_VERTICAL, edge).responses[0]
    assert np.all(vertical[:, 1:-1] == 0.0)


def test_plot_kernel_response_stack_and_errors():
    stack = np.random.rand(3, 7, 7)
    fig = plot_kernel_response(np.ones((3, 3)) / 9, stack)
    assert len(fig.axes) == 6 and len(fig.responses) == 3
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        plot_kernel_response(np.ones((3, 3, 3)), stack)


# ---- show_batch ---------------------------------------------------------------------------------------------------

NAMES = ["cat", "dog", "fox"]


def test_show_batch_sparse_onehot_binary_and_column_labels():
    x = np.random.randint(0, 256, size=(20, 6, 6, 3)).astype(np.uint8)
    sparse = np.arange(20) % 3
    fig = show_batch((x, sparse), class_names=NAMES)
    assert len(fig.axes) == 16
    assert [ax.get_title() for ax in fig.axes] == [NAMES[i] for i in sparse[:16]]
    for i, ax in enumerate(fig.axes):
        np.testing.assert_allclose(image_data(ax), x[i] / 255.0)
    fig = show_batch((x, np.eye(3)[sparse]), class_names=NAMES, n=5)
    assert [ax.get_title() for ax in fig.axes] == [NAMES[i] for i in sparse[:5]]
    fig = show_batch((x[:4], sparse[:4, None].astype(np.uint8)), class_names={0: "a", 1: "b", 2: "c"})
    assert fig.labels == ["a", "b", "c", "a"]
    fig = show_batch((x[:4] / 255.0, np.array([0.0, 1.0, 1.0, 0.0])), class_names={"no": 0, "yes": 1})
    assert fig.labels == ["no", "yes", "yes", "no"]
    np.testing.assert_allclose(image_data(fig.axes[1]), x[1] / 255.0)  # 0..1 data is shown unchanged
    fig = show_batch((x[:3], np.array([2, 0, 1])))
    assert fig.labels == ["2", "0", "1"]


def test_show_batch_grayscale_and_generator():
    x = np.random.rand(5, 4, 4, 1).astype(np.float32) * 255
    batches = ((x, np.array([1, 0, 1, 0, 1])) for _ in range(3))
    fig = show_batch(batches, class_names=["zero", "one"], n=9)
    assert len(fig.axes) == 5 and fig.labels == ["one", "zero", "one", "zero", "one"]
    data = image_data(fig.axes[0])
    assert data.shape == (4, 4)
    np.testing.assert_allclose(data, x[0, :, :, 0] / 255.0, rtol=1e-6)


def test_show_batch_from_directory_iterator(tmp_path):
    from cnnkit.data import write_image_folder  # noqa: PLC0415
    from cnnkit.preprocessing.image import ImageDataGenerator  # noqa: PLC0415

    x = np.random.randint(0, 256, size=(6, 8, 8, 3)).astype(np.uint8)
    write_image_folder(x, np.array([0, 1, 2, 0, 1, 2]), tmp_path / "pets", class_names=NAMES)
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tmp_path / "pets", target_size=(8, 8), batch_size=4, class_mode="sparse", shuffle=False, workers=1)
    images, labels = flow[0]
    fig = show_batch(flow)
    inverse = {v: k for k, v in flow.class_indices.items()}
    assert fig.labels == [inverse[int(v)] for v in labels]
    assert set(fig.labels) <= set(NAMES)
    for i, ax in enumerate(fig.axes):
        np.testing.assert_allclose(image_data(ax), images[i], atol=1e-6)
    flow = ImageDataGenerator().flow(x, np.eye(3)[[0, 1, 2, 0, 1, 2]], batch_size=6, shuffle=False)
    fig = show_batch(flow, class_names=NAMES)
    assert fig.labels == ["cat", "dog", "fox", "cat", "dog", "fox"]
    np.testing.assert_allclose(image_data(fig.axes[2]), x[2] / 255.0, atol=1e-6)


# ---- the seeds' plotting blocks -----------------------------------------------------------------------------------

# 003_c0f95dda8a25f66c.txt: imports (module name changed; `tensorflow as tf` is only used for plot_model, left
# out), "Display data with labels", the model, compile, fit (epochs=5 -> 1), the accuracy and loss plots, the three
# "Display trained filters" blocks, and "Display image processed by filters".
SEED_003_IMPORTS = """
from cnnkit import datasets, layers
from cnnkit.models import Model
import matplotlib.pyplot as plt
import numpy as np
"""

SEED_003_LABELS = """
class_names = ['airplane', 'automobile', 'bird', 'cat', 'deer',
               'dog', 'frog', 'horse', 'ship', 'truck']

plt.figure(figsize=(10,10))
for i in range(25):
    plt.subplot(5,5,i+1)
    plt.xticks([])
    plt.yticks([])
    plt.grid(False)
    plt.imshow(train_images[i])
    # The CIFAR labels happen to be arrays,
    # which is why you need the extra index
    plt.xlabel(class_names[train_labels[i][0]])
plt.show()
"""

SEED_003_MODEL_AND_CURVES = """
# 32x32 image with 3 channels - RGB
input_layer = layers.Input(shape=(32, 32, 3))
# Convolution 2D, 32 filter with patches of size 3x3
x = layers.Conv2D(32, (3, 3), activation='relu')(input_layer)
# Maximum pooling with patches of size 2x2
x = layers.MaxPooling2D((2, 2))(x)
# Convolution 2D, 64 filter with patches of size 3x3
x = layers.Conv2D(64, (3, 3), activation='relu')(x)
x = layers.MaxPooling2D((2, 2))(x)
x = layers.Conv2D(64, (3, 3), activation='relu')(x)
# Flatten conv2D output for processing in dense layers responsible for classification
x = layers.Flatten()(x)
x = layers.Dense(64, activation='relu')(x)
output_layer = layers.Dense(10, activation='softmax')(x)
model = Model(inputs = input_layer, outputs = output_layer)

model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

history = model.fit(train_images, train_labels, epochs=1,
                    validation_data=(test_images, test_labels))

plt.plot(history.history['accuracy'], label='accuracy')
plt.plot(history.history['val_accuracy'], label = 'val_accuracy')
plt.xlabel('Epoch')
plt.ylabel('accuracy')
plt.legend(loc='lower right')

plt.plot(history.history['loss'], label='loss')
plt.plot(history.history['val_loss'], label = 'val_loss')
plt.xlabel('Epoch')
plt.ylabel('loss')
plt.legend(loc='lower right')
"""

SEED_003_FILTERS = """
# how layers are stacked
layer = model.layers
layer

filters, biases = model.layers[1].get_weights()
# (rows, cols, channels, filter count)
filters.shape

filters, biases = model.layers[1].get_weights()
fig1=plt.figure(figsize=(8, 12))
columns = 4
rows = 8
n_filters = columns * rows
for i in range(1, n_filters +1):
    f = filters[:, :, :, i-1]
    fig1 =plt.subplot(rows, columns, i)
    fig1.set_xticks([])
    fig1.set_yticks([])
    plt.imshow(f[:, :, 0], cmap='gray') #Show only the filters from 0th channel (R)
plt.show()
first_filters = plt.gcf()

filters, biases = model.layers[3].get_weights()
fig1=plt.figure(figsize=(8, 12))
columns = 8
rows = 8
n_filters = columns * rows
for i in range(1, n_filters +1):
    f = filters[:, :, :, i-1]
    fig1 =plt.subplot(rows, columns, i)
    fig1.set_xticks([])
    fig1.set_yticks([])
    plt.imshow(f[:, :, 0], cmap='gray') #Show only the filters from 0th channel (R)
    #ix += 1
plt.show()

filters, biases = model.layers[5].get_weights()
fig1=plt.figure(figsize=(8, 12))
columns = 8
rows = 8
n_filters = columns * rows
for i in range(1, n_filters +1):
    f = filters[:, :, :, i-1]
    fig1 =plt.subplot(rows, columns, i)
    fig1.set_xticks([])
    fig1.set_yticks([])
    plt.imshow(f[:, :, 0], cmap='gray') #Show only the filters from 0th channel (R)
    #ix += 1
plt.show()
third_filters = plt.gcf()
"""

SEED_003_FEATURE_MAPS = """
# reformat model to get output from trained convolution layers
conv_layer_index = [1, 3, 5]
outputs = [model.layers[i].output for i in conv_layer_index]
model_short = Model(inputs=model.inputs, outputs=outputs)
print(model_short.summary())

plt.imshow(train_images[7])

img = np.expand_dims(train_images[7], axis=0)

feature_output = model_short.predict(img)

columns = 4
rows = 8
ftr = feature_output[0]
fig=plt.figure(figsize=(12, 12))
for i in range(1, columns*rows +1):
    fig =plt.subplot(rows, columns, i)
    fig.set_xticks([])
    fig.set_yticks([])
    plt.imshow(ftr[0, :, :, i-1], cmap='gray')
plt.show()
first_maps = plt.gcf()

columns = 8
rows = 8
ftr = feature_output[1]
fig=plt.figure(figsize=(12, 12))
for i in range(1, columns*rows +1):
    fig =plt.subplot(rows, columns, i)
    fig.set_xticks([])
    fig.set_yticks([])
    plt.imshow(ftr[0, :, :, i-1], cmap='gray')
plt.show()

columns = 8
rows = 8
ftr = feature_output[2]
fig=plt.figure(figsize=(12, 12))
for i in range(1, columns*rows +1):
    fig =plt.subplot(rows, columns, i)
    fig.set_xticks([])
    fig.set_yticks([])
    plt.imshow(ftr[0, :, :, i-1], cmap='gray')
plt.show()
"""

# 004_1640f47f8f2e0172.txt, "Learning Curves", with the notes' typos fixed (`matplotlib.pytplot`,
# `validations_split`; the typo is tested in test_seeds_training.py).
SEED_004_CURVES = """
import matplotlib.pyplot as plt

training = model.fit(
	train_data, train_labels, epochs=3,
	validation_split=0.2
)

plt.plot(training.history['loss'])
plt.plot(training.history['val_loss'])
plt.show()
"""


def run_block(code, namespace):
    exec(compile(code, "<seed>", "exec"), namespace)  # noqa: S102 (the seeds' own code)
    return namespace


@pytest.mark.filterwarnings("ignore:.*non-interactive.*:UserWarning")
def test_seed_003_plotting_blocks_run_and_match_cnnkit_plots(plt, capsys):
    rng = np.random.default_rng(3)
    ns = {"train_images": rng.integers(0, 256, (48, 32, 32, 3)).astype(np.uint8) / 255.0,
          "train_labels": rng.integers(0, 10, (48, 1)).astype(np.uint8),
          "test_images": rng.integers(0, 256, (16, 32, 32, 3)).astype(np.uint8) / 255.0,
          "test_labels": rng.integers(0, 10, (16, 1)).astype(np.uint8)}
    run_block(SEED_003_IMPORTS, ns)
    run_block(SEED_003_LABELS, ns)
    seed_grid = plt.gcf()
    fig = show_batch((ns["train_images"], ns["train_labels"]), class_names=ns["class_names"], n=25)
    assert [ax.get_xlabel() for ax in seed_grid.axes] == [ax.get_title() for ax in fig.axes]
    for seed_ax, ax in zip(seed_grid.axes, fig.axes):
        np.testing.assert_allclose(image_data(ax), image_data(seed_ax))
    plt.close("all")

    run_block(SEED_003_MODEL_AND_CURVES, ns)
    history = ns["history"].history
    seed_lines = [line.get_ydata() for line in plt.gca().get_lines()]
    np.testing.assert_allclose(np.concatenate(seed_lines), np.concatenate(
        [history[k] for k in ("accuracy", "val_accuracy", "loss", "val_loss")]))
    fig = plot_history(ns["history"])
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), history["val_loss"])
    plt.close("all")

    run_block(SEED_003_FILTERS, ns)
    model = ns["model"]
    assert ns["filters"].shape == (3, 3, 64, 64)
    assert len(ns["first_filters"].axes) == 32 and len(ns["third_filters"].axes) == 64
    for seed_fig, index in ((ns["first_filters"], 1), (ns["third_filters"], 5)):
        fig = plot_filters(model.layers[index])
        assert len(fig.axes) == len(seed_fig.axes)
        for seed_ax, ax in zip(seed_fig.axes, fig.axes):
            np.testing.assert_array_equal(image_data(ax), image_data(seed_ax))
    plt.close("all")

    run_block(SEED_003_FEATURE_MAPS, ns)
    assert [f.shape for f in ns["feature_output"]] == [(1, 30, 30, 32), (1, 13, 13, 64), (1, 4, 4, 64)]
    fig = plot_feature_maps(model, ns["train_images"][7], layers=[1, 3, 5], max_maps=32)
    for ref, name in zip(ns["feature_output"], fig.feature_maps):
        np.testing.assert_allclose(fig.feature_maps[name], ref[0], atol=1e-5)
    for seed_ax, ax in zip(ns["first_maps"].axes, fig.subfigs[0].axes):
        np.testing.assert_allclose(image_data(ax), norm01(image_data(seed_ax)), atol=1e-5)
    default = plot_feature_maps(model, ns["train_images"][7])  # every conv and pooling layer
    assert list(default.feature_maps) == [layer.name for layer in model.layers[1:6]]
    capsys.readouterr()


@pytest.mark.filterwarnings("ignore:.*non-interactive.*:UserWarning")
def test_seed_004_learning_curves_block(plt):
    model = Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), L.Flatten(),
                        L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    ns = {"model": model, "train_data": np.random.rand(30, 6, 6, 1),
          "train_labels": np.eye(3)[np.random.randint(0, 3, 30)]}
    run_block(SEED_004_CURVES, ns)
    lines = plt.gca().get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), ns["training"].history["loss"])
    np.testing.assert_allclose(lines[1].get_ydata(), ns["training"].history["val_loss"])
    fig = ns["training"].plot(metrics="loss")
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), lines[0].get_ydata())
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), lines[1].get_ydata())


def test_plot_feature_maps_shows_all_of_the_notes_maps_in_rows_of_8():
    """The notes' 32- and 64-map layers: all maps by default, 8 to a row (their 8x4 and 8x8 figures)."""
    model = Sequential([L.Conv2D(32, 3, input_shape=(12, 12, 1), name="c32"), L.Conv2D(64, 3, name="c64")])
    fig = plot_feature_maps(model, np.random.rand(12, 12, 1))
    for sub, count in zip(fig.subfigs, (32, 64)):
        assert [ax.get_title() for ax in sub.axes] == [f"map {j}" for j in range(count)]
        columns = {ax.get_subplotspec().colspan.start for ax in sub.axes}
        rows = {ax.get_subplotspec().rowspan.start for ax in sub.axes}
        assert (len(columns), len(rows)) == (8, count // 8)
    fig = plot_feature_maps(model, np.random.rand(12, 12, 1), max_maps=10, columns=5)  # a limit stays available
    assert [len(sub.axes) for sub in fig.subfigs] == [10, 10]
    with pytest.raises(ValueError, match="columns must be a positive int"):
        plot_feature_maps(model, np.random.rand(12, 12, 1), columns=0)


def test_plot_feature_maps_default_looks_inside_a_nested_backbone():
    """The notes' transfer-learning shape, Sequential([backbone, GlobalAveragePooling2D(), Dense]): the default
    picks convolutions of the backbone (the first, the last and evenly spaced ones, at most 6)."""
    inputs = L.Input((16, 16, 3))
    x = inputs
    for i in range(8):
        x = L.Conv2D(2, 3, padding="same", name=f"b{i}")(x)
    backbone = Model(inputs, x, name="backbone")
    model = Sequential([backbone, L.GlobalAveragePooling2D(), L.Dense(2)])
    image = np.random.rand(16, 16, 3).astype(np.float32)
    fig = plot_feature_maps(model, image)
    assert list(fig.feature_maps) == ["b0", "b1", "b3", "b4", "b6", "b7"]
    np.testing.assert_allclose(fig.feature_maps["b7"], backbone.predict(image[None], verbose=0)[0], atol=1e-5)
