"""Bad input to the command line (issue 20): exit code 2 and one line on stderr naming the argument or file."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit import cli


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def folder(tmp_path):
    for c, name in enumerate(("a", "b")):
        os.makedirs(tmp_path / "data" / name)
        for i in range(3):
            pixels = np.random.default_rng(10 * c + i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    return tmp_path / "data"


def test_train_img_size_too_large(folder, tmp_path, capsys):
    assert cli.main(["train", str(folder), "--img-size", "30000", "--out", str(tmp_path / "run")]) == 2
    _one_line(capsys, "--img-size 30000 is too large", "at most 2048")
    assert not os.path.exists(tmp_path / "run")


def test_train_validation_split_leaving_no_training_image(folder, tmp_path, capsys):
    assert cli.main(["train", str(folder), "--validation-split", "0.999", "--out", str(tmp_path / "run"),
                     "--verbose", "0"]) == 2
    _one_line(capsys, "--validation-split 0.999 leaves no training image")
    assert not os.path.exists(tmp_path / "run")  # no empty run folder


@pytest.fixture
def saved(tmp_path):
    model = cnnkit.Sequential([cnnkit.Input((32, 32, 3)), cnnkit.layers.Flatten(),
                               cnnkit.layers.Dense(2, activation="softmax")])
    os.makedirs(tmp_path / "run")
    path = tmp_path / "run" / "model.keras"
    model.save(str(path))
    return path


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"image_size": "big"}), "image_size must be [height, width]"),
    (json.dumps({"class_names": "ab"}), "class_names must be a list of names"),
])
def test_corrupt_labels_json_is_named(saved, folder, content, message, capsys):
    (saved.parent / "labels.json").write_text(content)
    assert cli.main(["predict", str(saved), str(folder / "a" / "0.png")]) == 2
    _one_line(capsys, "labels.json", message)


def test_predict_names_a_truncated_image(saved, folder, capsys):
    path = folder / "a" / "1.png"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert cli.main(["predict", str(saved), str(folder / "a")]) == 0  # the others are still predicted
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and "1.png: cannot read it as an image" in skipped[0] and "Traceback" not in err


def test_labels_json_naming_a_different_number_of_classes_is_one_line(saved, folder, capsys):
    import json  # noqa: PLC0415

    labels_path = os.path.join(os.path.dirname(str(saved)), "labels.json")
    labels = json.load(open(labels_path)) if os.path.exists(labels_path) else {}
    labels["class_names"] = ["only_one"]
    with open(labels_path, "w") as f:
        json.dump(labels, f)
    assert cli.main(["predict", str(saved), str(folder / "a")]) == 2
    _one_line(capsys, "names 1 classes but the model", "outputs")
