"""The HTML report: self-contained (every image embedded), every section present, and rendered by a real
headless browser (Debian's Chromium) with every image loaded."""

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D
from cnnkit.visualization.report import write_report

SECTIONS = ["Summary", "Data", "Model", "Model diagram", "Learning curves", "Final metrics (last epoch)", "Validation",
            "Top losses", "First-layer filters (conv2d)", "Feature maps of one validation image", "Grad-CAM"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    cnnkit.utils.clear_session()  # module-scoped: runs before the per-test reset, so layer names start afresh
    rng = np.random.default_rng(0)
    x = rng.random((60, 12, 12, 1)).astype("float32")
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(int) + 2 * (x[:, :, :6].mean(
        axis=(1, 2, 3)) > 0.5)
    model = cnnkit.Sequential([cnnkit.Input((12, 12, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(),
                               Flatten(), Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=2, verbose=0)
    path = str(tmp_path_factory.mktemp("report") / "report.html")
    write_report(path, model, history, x[40:], y[40:], class_names=["a", "b", "c", "d"],
                 train_data=(x[:8], y[:8]), title="test <run>", info={"data": "random"})
    return path, model


def images_of(text):
    return re.findall(r'<img [^>]*src="([^"]+)"', text)


def test_report_is_self_contained_with_every_section(report):
    path, model = report
    text = open(path, encoding="utf-8").read()
    assert re.findall(r"<h2>(.*?)</h2>", text) == SECTIONS
    assert "<title>test &lt;run&gt;</title>" in text  # escaped
    assert "Not available" not in text
    sources = images_of(text)
    # data preview, diagram, curves, confusion matrix, top losses, filters, feature maps, 3 x Grad-CAM
    assert len(sources) == 10
    for src in sources:
        assert src.startswith("data:image/png;base64,")  # nothing outside the file
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert f"{model.count_params():,}" in text and "precision" in text and "Total params" in text


def test_report_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it when run as root)")
    path, _ = report
    text = open(path, encoding="utf-8").read()
    probe = ("<script>window.addEventListener('load', function () { var imgs = Array.prototype.slice.call("
             "document.images); document.body.setAttribute('data-rendered', imgs.filter(function (i) { return "
             "i.complete && i.naturalWidth > 0; }).length + '/' + imgs.length); });</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(text.replace("</body>", probe), encoding="utf-8")
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HOME=str(tmp_path)))
    rendered = re.search(r'data-rendered="(\d+)/(\d+)"', out.stdout)
    assert rendered, out.stderr[-2000:]
    assert rendered.group(1) == rendered.group(2) == "10"
    assert "<h2>Grad-CAM</h2>" in out.stdout
    headline = re.search(r"<p class=\"headline\">(.*?)</p>", out.stdout)  # rendered as the page's first words
    assert headline and "Validation accuracy: <b>" in headline.group(1) and "best epoch: " in headline.group(1)


def test_broken_image_would_be_caught(tmp_path):
    """The browser check is not vacuous: an image that cannot be decoded is counted as not rendered."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"><script>window.addEventListener("load", '
                    'function () { var i = document.images[0]; document.body.setAttribute("data-rendered", '
                    '(i.complete && i.naturalWidth > 0) ? "1/1" : "0/1"); });</script></body></html>')
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HOME=str(tmp_path)))
    assert 'data-rendered="0/1"' in out.stdout


def test_report_draws_the_first_16_feature_maps_of_each_layer(tmp_path, monkeypatch):
    """The report's feature-map section (the slowest part of a report at 64 maps a layer) draws 16 maps of a
    20-filter layer and says how to see them all; plot_feature_maps itself still defaults to 64."""
    from cnnkit.visualization import report as report_module  # noqa: PLC0415

    drawn = []
    real = report_module.plot_feature_maps

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        drawn.append({sub.get_suptitle().split()[0]: len(sub.axes) for sub in fig.subfigs})
        return fig

    monkeypatch.setattr(report_module, "plot_feature_maps", spy)
    x = np.random.default_rng(1).random((6, 12, 12, 1)).astype("float32")
    model = cnnkit.Sequential([cnnkit.Input((12, 12, 1)), Conv2D(20, 3, activation="relu", name="wide"),
                               Conv2D(3, 3, name="narrow"), Flatten(), Dense(2, activation="softmax")])
    path = str(tmp_path / "report.html")
    write_report(path, model, None, x, np.arange(6) % 2)
    assert drawn == [{"wide": 16, "narrow": 3}]
    assert "The first 16 maps of each layer" in open(path).read()
    assert len(real(model, x[0]).subfigs[0].axes) == 20
