"""Every snippet in README.md runs as pasted.

Convention (also stated at the end of the README): every ```python block runs, each in a fresh namespace, unless
the line before it is an HTML comment `<!-- not run: REASON -->`. A block runs in a temporary folder holding
`photos/cats/*.jpg` and `photos/dogs/*.jpg` (tiny generated JPEGs), with these substitutes so that the whole file
stays fast and offline:

- `cnnkit.datasets.mnist_5k.load_data` returns 256 training and 64 test digits of the real data;
- `weights='imagenet'` becomes `weights=None` (no download) and every `epochs=N` becomes `epochs=1`;
- names a block uses from an earlier section (`model`, `history`, `x_test` of the small MNIST convnet; `train_ds`,
  `val_ds`, `images` from the photos folder; `train_flow`, `val_flow` of `flow_from_directory`) are predefined.

Every line of a ```bash block that starts with `cnnkit ` must parse with `cnnkit.cli.parse_args` (nothing runs).
"""

import os
import pathlib
import re
import shlex

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
NOT_RUN = re.compile(r"<!--\s*not run:.*-->")


def _blocks(language):
    """(first line number, code, marked not-run) of every ```language block of the README."""
    lines = README.read_text().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```" + language:
            start = i + 1
            j = start
            while lines[j].strip() != "```":
                j += 1
            before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            blocks.append((start + 1, "\n".join(lines[start:j]), bool(NOT_RUN.search(before))))
            i = j
        i += 1
    return blocks


PYTHON = _blocks("python")


def test_readme_has_no_internal_words():
    text = README.read_text()
    for word in ("the notes", "seeds'", "the issue", "issue #"):
        assert word.lower() not in text.lower(), word


def test_readme_report_picture_is_small_and_referenced():
    text = README.read_text()
    assert 'src="docs/report.png"' in text
    png = README.parent / "docs" / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000


def test_readme_cli_lines_parse():
    from cnnkit.cli import parse_args

    lines = [line.split(" #")[0] for _, code, _ in _blocks("bash") for line in code.split("\n")
             if line.startswith("cnnkit ")]
    assert any(line.startswith("cnnkit train photos/") for line in lines)
    for line in lines:
        argv = shlex.split(line)[1:]
        try:
            parse_args(argv)
        except SystemExit as exc:  # argparse's way to fail
            pytest.fail(f"README line does not parse ({exc}): {line}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with photos/cats and photos/dogs (12 JPEGs each) and the names earlier sections define."""
    from PIL import Image

    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("cats", "dogs")):
        (root / "photos" / cls).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) // (1 + k)
            Image.fromarray(pixels).save(root / "photos" / cls / f"{i}.jpg")
    return root


@pytest.fixture(scope="module")
def predefined(workdir):
    import cnnkit
    from cnnkit.datasets import mnist_5k
    from cnnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from cnnkit.preprocessing.image import ImageDataGenerator

    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
    model = cnnkit.Sequential([Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(),
                               Flatten(), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train / 255, y_train, batch_size=64, epochs=1, validation_split=0.2, verbose=0)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        train_ds, val_ds = cnnkit.utils.image_dataset_from_directory(
            "photos/", image_size=(150, 150), validation_split=0.25, subset="both", seed=0, batch_size=8)
        datagen = ImageDataGenerator(validation_split=0.25, rescale=1 / 255)
        flows = [datagen.flow_from_directory("photos/", target_size=(150, 150), batch_size=8, class_mode="sparse",
                                             subset=subset, seed=1) for subset in ("training", "validation")]
    finally:
        os.chdir(cwd)
    images = next(iter(train_ds))[0]
    return dict(model=model, history=history, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                train_ds=train_ds, val_ds=val_ds, images=images, train_flow=flows[0], val_flow=flows[1])


@pytest.fixture(autouse=True)
def small_mnist(monkeypatch):
    from cnnkit.datasets import mnist_5k

    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    monkeypatch.setattr(mnist_5k, "load_data", lambda: ((x_train[:256], y_train[:256]), (x_test[:64], y_test[:64])))


@pytest.mark.parametrize("line, code, not_run", PYTHON, ids=[f"line{b[0]}" for b in PYTHON])
def test_readme_python_block_runs(line, code, not_run, workdir, predefined, monkeypatch):
    if not_run:
        pytest.skip("marked <!-- not run -->")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    code = code.replace("weights='imagenet'", "weights=None")
    code = re.sub(r"\bepochs=\d+", "epochs=1", code)
    monkeypatch.chdir(workdir)
    namespace = {"__name__": "readme", **predefined}
    try:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
        if "onnxruntime" in code:  # the README says the file's output is predict's
            model, x = namespace["model"], namespace["x"]
            np.testing.assert_allclose(namespace["probs"], model.predict(x, verbose=0), atol=1e-4)
    finally:
        plt.close("all")
        from cnnkit import mixed_precision

        mixed_precision.set_global_policy("float32")


def test_readme_contents_links_reach_headings():
    text = README.read_text()
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#{2,3} (.+)$", outside_code, flags=re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors, sorted(links - anchors)
