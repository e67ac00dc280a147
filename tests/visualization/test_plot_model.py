"""plot_model: one box per layer, one arrow per graph edge (checked by geometry: each arrow starts on its source box
and ends on its destination box), no overlapping boxes, text inside its box, the orientation of rankdir, Keras-style
labels, ResNet50 at a readable size, valid png/svg/pdf files, and matplotlib imported only on demand."""

import importlib
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit import layers as L
from cnnkit.visualization.plot_model import plot_model

# The module itself (a package that re-exports the function under the same name hides the module attribute).
plot_model_module = importlib.import_module("cnnkit.visualization.plot_model")

pytest.importorskip("matplotlib")
from matplotlib.patches import FancyArrowPatch  # noqa: E402 (after the importorskip)
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnkit.visualization._mpl import pyplot  # noqa: E402

plt = pyplot()

_spec = importlib.util.spec_from_file_location("_models_zoo", Path(__file__).parents[1] / "models" / "conftest.py")
zoo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo)  # the architectures the model tests build with Keras's names (fixtures unused)

BRANCHY_EDGES = {
    ("image", "shortcut_conv"), ("image", "pad"), ("pad", "main_conv"), ("main_conv", "main_bn"),
    ("main_bn", "activation"), ("activation", "main_conv2"), ("shortcut_conv", "add"), ("main_conv2", "add"),
    ("add", "concat"), ("shortcut_conv", "concat"), ("concat", "max_pooling2d"), ("concat", "average_pooling2d"),
    ("average_pooling2d", "average_pooling2d_1"), ("max_pooling2d", "concatenate"),
    ("average_pooling2d_1", "concatenate"), ("concatenate", "head_bn"), ("head_bn", "global_average_pooling2d"),
    ("global_average_pooling2d", "probs"), ("max_pooling2d", "flatten"), ("flatten", "flat_dense"),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
    cnnkit.utils.clear_session()  # leave fresh layer names to module-scoped fixtures of the next test module


def boxes_of(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]


def arrows_of(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]


def texts_of(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def rect(box):
    return box.get_x(), box.get_y(), box.get_x() + box.get_width(), box.get_y() + box.get_height()


def named_boxes(fig):
    """{layer name: box}, from the bold first line ('name (Class)') drawn inside each box."""
    out = {}
    for box in boxes_of(fig):
        x0, y0, x1, y1 = rect(box)
        heads = [t for t in fig.axes[0].texts if t.get_fontweight() == "bold"
                 and x0 <= t.get_position()[0] <= x1 and y0 <= t.get_position()[1] <= y1]
        assert len(heads) == 1
        out[heads[0].get_text().split(" (")[0]] = box
    return out


def distance(point, r):
    return math.hypot(max(r[0] - point[0], 0, point[0] - r[2]), max(r[1] - point[1], 0, point[1] - r[3]))


def drawn_edges(fig):
    """(source, destination) of each arrow: the box its line starts on, the other box its head touches."""
    boxes = {name: rect(box) for name, box in named_boxes(fig).items()}
    edges = []
    for arrow in arrows_of(fig):
        vertices = arrow.get_path().vertices
        source = min(boxes, key=lambda n: distance(vertices[0], boxes[n]))
        target = min((n for n in boxes if n != source), key=lambda n: min(distance(v, boxes[n]) for v in vertices))
        assert distance(vertices[0], boxes[source]) < 1.0
        assert min(distance(v, boxes[target]) for v in vertices) < 1.0
        edges.append((source, target))
    return edges


def assert_no_overlap(fig):
    x0, y0, x1, y1 = np.array([box.get_window_extent().extents for box in boxes_of(fig)]).T
    overlap = ((x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None]) &
               (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None]))
    np.fill_diagonal(overlap, False)
    assert not overlap.any()


def assert_text_inside_boxes(fig):
    renderer = fig.canvas.get_renderer()
    extents = [box.get_window_extent().extents for box in boxes_of(fig)]
    for text in fig.axes[0].texts:
        tx0, ty0, tx1, ty1 = text.get_window_extent(renderer).extents
        assert any(bx0 <= tx0 and tx1 <= bx1 and by0 <= ty0 and ty1 <= by1 for bx0, by0, bx1, by1 in extents), \
            text.get_text()


def centres(fig, model):
    boxes = named_boxes(fig)
    return np.array([[(r[0] + r[2]) / 2, (r[1] + r[3]) / 2] for r in (rect(boxes[la.name]) for la in model.layers)])


def test_sequential_boxes_arrows_and_shapes():
    model = zoo.mnist_convnet(cnnkit)
    fig = plot_model(model, to_file=None, show_shapes=True)
    names = [layer.name for layer in model.layers]
    assert len(boxes_of(fig)) == len(names) == 8  # no InputLayer box for a Sequential, as in Keras
    assert len(arrows_of(fig)) == len(names) - 1
    assert drawn_edges(fig) == list(zip(names, names[1:]))
    texts = texts_of(fig)
    assert "conv2d (Conv2D)" in texts and "max_pooling2d (MaxPooling2D)" in texts and "dense_1 (Dense)" in texts
    assert "Input shape: (None, 28, 28, 1)" in texts and "Output shape: (None, 26, 26, 32)" in texts
    assert "Output shape: (None, 10)" in texts
    assert_no_overlap(fig)
    assert_text_inside_boxes(fig)


def test_branching_model_draws_every_edge_once():
    model = zoo.branchy(cnnkit)
    fig = plot_model(model, to_file=None, show_shapes=True, show_layer_activations=True, show_trainable=True,
                     show_dtype=True)
    assert len(boxes_of(fig)) == len(model.layers) == 18
    assert len(arrows_of(fig)) == len(BRANCHY_EDGES) == 20
    assert sorted(drawn_edges(fig)) == sorted(BRANCHY_EDGES)
    texts = texts_of(fig)
    assert "Input shape: [(None, 8, 7, 8), (None, 8, 7, 8)]" in texts
    assert "Activation: tanh" in texts and "Activation: relu" in texts and "Trainable: Y" in texts
    assert "Output dtype: float32" in texts
    assert_no_overlap(fig)
    assert_text_inside_boxes(fig)


@pytest.mark.parametrize("rankdir", ["TB", "LR", "BT", "RL"])
def test_rankdir_orientation(rankdir):
    model = zoo.lenet(cnnkit)
    fig = plot_model(model, to_file=None, rankdir=rankdir)
    xy = centres(fig, model)
    step = np.diff(xy, axis=0)
    along, across = {"TB": (-step[:, 1], xy[:, 0]), "BT": (step[:, 1], xy[:, 0]),
                     "LR": (step[:, 0], xy[:, 1]), "RL": (-step[:, 0], xy[:, 1])}[rankdir]
    assert (along > 0).all()  # TB: y decreases down the chain; LR: x increases
    assert np.ptp(across) < 1.0  # a chain is drawn straight
    assert_no_overlap(fig)
    width, height = fig.get_size_inches()
    assert (height > width) == (rankdir in ("TB", "BT"))


def test_labels_options():
    model = zoo.mnist_convnet(cnnkit)
    model.layers[0].trainable = False
    texts = texts_of(plot_model(model, to_file=None, show_layer_names=False, show_trainable=True))
    assert texts.count("Conv2D") == 3 and "conv2d (Conv2D)" not in texts
    assert "Trainable: N" in texts and "Trainable: Y" in texts
    assert not any(t.startswith("Trainable") for t in texts_of(plot_model(model, to_file=None)))


def test_nested_models_collapsed_and_expanded():
    inner_in = L.Input((8,), name="inner_in")
    inner = cnnkit.Model(inner_in, L.Add(name="inner_add")([L.Dense(4, name="inner_a")(inner_in),
                                                           L.Dense(4, name="inner_b")(inner_in)]), name="backbone")
    head = cnnkit.Sequential([L.Dense(3, name="s1", input_shape=(4,)), L.Dense(2, name="s2")], name="head")
    x = L.Input((8,), name="x")
    outer = cnnkit.Model(x, L.Concatenate(name="cat")([head(inner(x)), L.Dense(2, name="side")(x)]))
    fig = plot_model(outer, to_file=None)
    assert "backbone (Functional)" in texts_of(fig) and "head (Sequential)" in texts_of(fig)
    assert sorted(drawn_edges(fig)) == sorted([("x", "backbone"), ("backbone", "head"), ("head", "cat"),
                                               ("x", "side"), ("side", "cat")])
    fig = plot_model(outer, to_file=None, expand_nested=True)
    assert sorted(named_boxes(fig)) == sorted(["x", "inner_in", "inner_a", "inner_b", "inner_add", "s1", "s2",
                                               "side", "cat"])
    assert sorted(drawn_edges(fig)) == sorted([
        ("x", "inner_in"), ("inner_in", "inner_a"), ("inner_in", "inner_b"), ("inner_a", "inner_add"),
        ("inner_b", "inner_add"), ("inner_add", "s1"), ("s1", "s2"), ("s2", "cat"), ("x", "side"), ("side", "cat")])
    frames = [p for p in fig.axes[0].patches if type(p) is Rectangle]
    assert len(frames) == 2 and {"backbone", "head"} <= set(texts_of(fig))
    assert_no_overlap(fig)


def test_shared_layer_and_subclassed_model():
    dense = L.Dense(4, name="shared")
    x = L.Input((4,), name="x")
    fig = plot_model(cnnkit.Model(x, dense(dense(x))), to_file=None)  # the layer feeds itself: a loop arrow
    assert len(boxes_of(fig)) == 2 and len(arrows_of(fig)) == 2

    class Net(cnnkit.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = L.Dense(2)

        def call(self, inputs, training=False):
            return self.dense(inputs)

    net = Net()
    with pytest.raises(ValueError, match="not yet been built"):
        plot_model(net, to_file=None)
    net(np.zeros((1, 3), dtype="float32"))
    fig = plot_model(net, to_file=None)
    assert texts_of(fig) == ["net (Net)"] and not arrows_of(fig)


def test_resnet50_is_readable(tmp_path):
    model = zoo.resnet50(cnnkit)
    assert len(model.layers) == 177  # as len(keras.applications.ResNet50(weights=None).layers)
    fig = plot_model(model, to_file=tmp_path / "resnet50.png", show_shapes=True)
    assert len(boxes_of(fig)) == 177
    # Keras's graph has 192 edges: one input per layer but the InputLayer, two for each of the 16 Add layers.
    assert len(arrows_of(fig)) == 192 == 177 - 1 + 16
    assert set(named_boxes(fig)) == {layer.name for layer in model.layers}
    assert min(t.get_fontsize() for t in fig.axes[0].texts) >= 7
    assert fig.dpi == 96
    assert fig.get_size_inches()[1] * 96 > 177 * 40  # the figure grew with the graph instead of shrinking the text
    assert "Output shape: (None, 1000)" in texts_of(fig) and "Output shape: (None, 7, 7, 2048)" in texts_of(fig)
    assert_no_overlap(fig)
    assert_text_inside_boxes(fig)
    from PIL import Image  # noqa: PLC0415 (a matplotlib dependency)
    with Image.open(tmp_path / "resnet50.png") as image:  # saved at 96 dpi: 9-point text is 12 pixels high
        assert image.size[1] > 177 * 40 and abs(image.size[1] - fig.get_size_inches()[1] * 96) < 50


def test_files_written_by_extension(tmp_path):
    model = zoo.cifar_functional(cnnkit)
    magic = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<svg", "pdf": b"%PDF"}
    for ext, start in magic.items():
        path = tmp_path / "plots" / f"model.{ext.upper() if ext == 'pdf' else ext}"
        fig = plot_model(model, to_file=str(path), show_shapes=True)
        data = path.read_bytes()
        assert (data.startswith(start) if ext != "svg" else start in data[:500]), ext
        plt.close(fig)
    plot_model(model, to_file=tmp_path / "noext")
    assert (tmp_path / "noext").read_bytes().startswith(magic["png"])
    assert sorted(os.listdir(tmp_path / "plots")) == ["model.PDF", "model.png", "model.svg"]  # no temporary files
    from PIL import Image  # noqa: PLC0415 (a matplotlib dependency)
    with Image.open(tmp_path / "plots" / "model.png") as image:
        assert image.size[1] > 600  # 9 boxes at 96 dpi
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        plot_model(model, to_file=str(tmp_path / "model.jpg"))
    assert not (tmp_path / "model.jpg").exists()


def test_argument_errors():
    model = zoo.lenet(cnnkit)
    with pytest.raises(TypeError, match="Did you mean 'show_shapes'"):
        plot_model(model, to_file=None, show_shape=True)
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(model, to_file=None, rankdir="XY")
    with pytest.raises(TypeError, match="cnnkit Model"):
        plot_model("model", to_file=None)
    with pytest.raises(ValueError, match="not yet been built"):
        plot_model(cnnkit.Sequential([L.Dense(2)]), to_file=None)


def test_import_cnnkit_does_not_import_matplotlib():
    code = ("import sys, cnnkit, cnnkit.visualization.plot_model; "
            "print('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2])
    assert result.stdout.strip() == "False"


def test_png_too_large_is_saved_at_a_lower_dpi(tmp_path, monkeypatch):
    monkeypatch.setattr(plot_model_module, "MAX_PIXELS", 400)
    with pytest.warns(UserWarning, match="too large"):
        plot_model(zoo.lenet(cnnkit), to_file=tmp_path / "lenet.png")
    from PIL import Image  # noqa: PLC0415
    with Image.open(tmp_path / "lenet.png") as image:
        assert max(image.size) <= 400
