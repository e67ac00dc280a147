"""`cnnkit train / evaluate / predict / summary MODEL` on a folder made from the built-in digits."""

import contextlib
import csv
import io
import json
import os

import numpy as np
import pytest

from cnnkit import cli
from cnnkit.data import write_image_folder
from cnnkit.datasets import mnist_5k
from cnnkit.models import load_model
from cnnkit.utils import img_to_array, load_img


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """3 classes x 60 real digits as PNG class folders (written by the export helper)."""
    (x, y), _ = mnist_5k.load_data()
    keep = np.concatenate([np.flatnonzero(y == d)[:60] for d in (0, 1, 7)])
    root = tmp_path_factory.mktemp("digits")
    write_image_folder(x[keep], y[keep], str(root / "data"), class_names=[str(d) for d in range(10)])
    for d in range(10):  # leave only the three classes used
        folder = root / "data" / str(d)
        if d not in (0, 1, 7):
            os.rmdir(folder)
    return str(root / "data")


@pytest.fixture(scope="module")
def few_digits_dir(tmp_path_factory):
    """3 classes x 15 real digits: for the backbone runs, whose checks do not need more images."""
    (x, y), _ = mnist_5k.load_data()
    keep = np.concatenate([np.flatnonzero(y == d)[:15] for d in (0, 1, 7)])
    root = tmp_path_factory.mktemp("few_digits")
    write_image_folder(x[keep], np.searchsorted([0, 1, 7], y[keep]), str(root / "data"), class_names=["0", "1", "7"])
    return str(root / "data")


@pytest.fixture(scope="module")
def trained_run(digits_dir, tmp_path_factory):
    """One 3-epoch run shared by the tests of train, predict, evaluate, plot and export: (run folder, what it
    printed with the default --verbose auto into a redirected log, i.e. not a terminal)."""
    out = str(tmp_path_factory.mktemp("run") / "digits")
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        assert cli.main(["train", digits_dir, "--model", "small", "--epochs", "3", "--out", out,
                         "--augment", "rotate,zoom"]) == 0
    return out, log.getvalue()


@pytest.fixture(scope="module")
def trained(trained_run):
    return trained_run[0]


def test_train_writes_model_history_and_labels(trained, digits_dir):
    assert sorted(os.listdir(trained)) == ["history.csv", "labels.json", "model.keras", "report.html"]
    labels = json.load(open(os.path.join(trained, "labels.json")))
    assert labels["class_names"] == ["0", "1", "7"]
    assert labels["image_size"] == [28, 28] and labels["color_mode"] == "grayscale"  # probed from the files
    rows = list(csv.DictReader(open(os.path.join(trained, "history.csv"))))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])
    model = load_model(os.path.join(trained, "model.keras"))
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 3)
    # the saved model is the best epoch by validation accuracy
    best = max(float(r["val_accuracy"]) for r in rows)
    assert best > 0.8


def test_predict_agrees_with_model_predict(trained, digits_dir, capsys):
    files = [os.path.join(digits_dir, c, f) for c in ("0", "7") for f in sorted(os.listdir(os.path.join(digits_dir,
                                                                                                          c)))[:3]]
    capsys.readouterr()
    assert cli.main(["predict", os.path.join(trained, "model.keras"), *files, "--top", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    model = load_model(os.path.join(trained, "model.keras"))
    x = np.stack([img_to_array(load_img(f, color_mode="grayscale", target_size=(28, 28))) / 255 for f in files])
    expected = np.asarray(model.predict(x, verbose=0))
    names = ["0", "1", "7"]
    for result, row, path in zip(results, expected, files):
        assert result["path"] == path
        assert [p["class"] for p in result["predictions"]] == [names[i] for i in np.argsort(-row)[:2]]
        np.testing.assert_allclose([p["probability"] for p in result["predictions"]], np.sort(row)[::-1][:2],
                                   rtol=1e-5, atol=1e-6)
    # a folder works too, and text output is one line per image
    assert cli.main(["predict", os.path.join(trained, "model.keras"), os.path.join(digits_dir, "1")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 60 and all(": " in line for line in lines)


def test_evaluate_prints_loss_and_accuracy(trained, digits_dir, capsys):
    capsys.readouterr()
    assert cli.main(["evaluate", os.path.join(trained, "model.keras"), digits_dir]) == 0
    out = capsys.readouterr().out
    assert "180 images" in out and "accuracy: " in out
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    model = load_model(os.path.join(trained, "model.keras"))
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    from cnnkit.preprocessing.image import ImageDataGenerator  # noqa: PLC0415
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        digits_dir, target_size=(28, 28), color_mode="grayscale", class_mode="sparse", shuffle=False)
    assert accuracy == pytest.approx(model.evaluate(flow, verbose=0)[1], abs=1e-4)


def test_summary_of_a_saved_model(trained, capsys):
    assert cli.main(["summary", os.path.join(trained, "model.keras")]) == 0
    assert "(None, 3)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "/no/such/folder"], "is not a folder"),
    (["evaluate", "/no/such/model.keras", "."], "not found"),
    (["predict", "/no/such/model.keras", "x.png"], "not found"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_train_refuses_one_class_empty_folder_and_bad_augmentation(tmp_path, digits_dir, capsys):
    os.makedirs(tmp_path / "empty" / "a")
    os.makedirs(tmp_path / "empty" / "b")
    assert cli.main(["train", str(tmp_path / "empty")]) == 2
    assert "no images found" in capsys.readouterr().err
    one = tmp_path / "one"
    os.makedirs(one / "only")
    (x, y), _ = mnist_5k.load_data()
    write_image_folder(x[:3], np.zeros(3, int), str(one / "tmp"))
    os.rename(one / "tmp" / "0", one / "only" / "imgs")
    os.rmdir(one / "tmp")
    assert cli.main(["train", str(one)]) == 2
    assert "at least 2 class folders" in capsys.readouterr().err
    assert cli.main(["train", digits_dir, "--augment", "flipp", "--out", str(tmp_path / "r")]) == 2
    assert "Did you mean 'flip'?" in capsys.readouterr().err


def test_unreadable_model_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.keras"
    bad.write_text("not a model")
    assert cli.main(["predict", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "could not read the model" in err and len(err.splitlines()) == 1


def test_plot_writes_the_diagram(trained, tmp_path, capsys):
    out = tmp_path / "model.svg"
    assert cli.main(["plot", os.path.join(trained, "model.keras"), str(out), "--show-shapes"]) == 0
    text = out.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "(None, 28, 28, 1)" in text
    assert cli.main(["plot", "lenet", str(tmp_path / "lenet.pdf")]) == 0
    assert (tmp_path / "lenet.pdf").read_bytes().startswith(b"%PDF")
    assert cli.main(["plot", "lenet", str(tmp_path / "lenet.gif")]) == 2
    assert "png" in capsys.readouterr().err


def test_train_on_the_builtin_digits_reaches_095(tmp_path, capsys):
    """The issue's acceptance run: mnist_5k's 4,000 training digits exported as a folder, `--model small`, the best
    validation accuracy at least 0.95. 6 epochs (the issue's run has 12): with seeds 0, 1 and 2 (set_random_seed
    and --seed) the best of the first 6 epochs was 0.9675, 0.9663 and 0.9638 (of 12: 0.9775, 0.9737, 0.975), and
    the 12-epoch run took about 32 s on 2 quiet cores (the time is measured and recorded, not asserted, as for
    every speed claim)."""
    (x, y), _ = mnist_5k.load_data()
    data = str(tmp_path / "digits")
    write_image_folder(x, y, data)
    assert cli.main(["train", data, "--model", "small", "--epochs", "6", "--out", str(tmp_path / "run"),
                     "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    best = float(out.split("best validation accuracy: ")[1].split()[0])
    assert best >= 0.95
    # predict on some of its images agrees with model.predict
    model_path = str(tmp_path / "run" / "model.keras")
    files = [os.path.join(data, c, sorted(os.listdir(os.path.join(data, c)))[0]) for c in sorted(os.listdir(data))]
    assert cli.main(["predict", model_path, *files, "--top", "1", "--json"]) == 0
    import json as json_  # noqa: PLC0415
    results = json_.loads(capsys.readouterr().out)
    model = load_model(model_path)
    x_files = np.stack([img_to_array(load_img(f, color_mode="grayscale", target_size=(28, 28))) / 255
                        for f in files])
    expected = np.asarray(model.predict(x_files, verbose=0)).argmax(-1)
    names = sorted(os.listdir(data))
    assert [r["predictions"][0]["class"] for r in results] == [names[i] for i in expected]


@pytest.mark.parametrize("model, builder, mode", [("resnet50", "ResNet50", "caffe"),
                                                  ("efficientnetb0", "EfficientNetB0", "none")])
def test_train_any_application_as_a_frozen_backbone(few_digits_dir, tmp_path, capsys, model, builder, mode):
    """Every ImageNet architecture is a backbone: --model NAME --weights PATH --freeze keeps the file's weights
    (only the head learns), prepares pixels with the family's preprocessing (labels.json) and predicts with it
    (MobileNetV2 and its 'tf' preprocessing: test_fine_tune_trains_the_head_then_the_last_block)."""
    import cnnkit.applications  # noqa: PLC0415

    source = getattr(cnnkit.applications, builder)(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = str(tmp_path / ("backbone.h5" if model == "resnet50" else "backbone.weights.h5"))  # both formats
    source.save_weights(weights)
    out = str(tmp_path / "run")
    assert cli.main(["train", few_digits_dir, "--model", model, "--weights", weights, "--freeze", "--epochs", "1",
                     "--out", out, "--verbose", "0"]) == 0
    labels = json.load(open(os.path.join(out, "labels.json")))
    assert labels["preprocessing"] == mode and labels["color_mode"] == "rgb" and labels["image_size"] == [32, 32]
    report = open(os.path.join(out, "report.html")).read()  # looks inside the backbone like a small model's
    assert "Not available" not in report
    assert all(f"<h2>{title}" in report for title in ("First-layer filters (", "Feature maps", "Grad-CAM"))
    trained = load_model(os.path.join(out, "model.keras"))
    for saved, original in zip(trained.get_layer(source.name).get_weights(), source.get_weights()):
        np.testing.assert_array_equal(saved, original)
    capsys.readouterr()
    assert cli.main(["predict", os.path.join(out, "model.keras"), os.path.join(few_digits_dir, "7"), "--top",
                     "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 15


def test_freeze_without_a_backbone_and_imagenet_for_small_are_errors(digits_dir, tmp_path, capsys):
    assert cli.main(["train", digits_dir, "--freeze", "--out", str(tmp_path / "a")]) == 2
    assert "--freeze needs a pretrained backbone" in capsys.readouterr().err
    assert cli.main(["train", digits_dir, "--weights", "imagenet", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "'small' has no ImageNet weights" in err and "resnet50" in err
    assert cli.main(["train", digits_dir, "--model", "resnet50", "--freeze", "--out", str(tmp_path / "c")]) == 2
    assert "--freeze keeps a pretrained backbone fixed: add --weights imagenet" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "c")


def test_ctrl_c_stops_cleanly_and_keeps_the_best_model(digits_dir, tmp_path):
    """SIGINT (Ctrl-C) after the first saved epoch: exit code 130, a message, and a loadable best model."""
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    out = tmp_path / "run"
    # A suite started in the background (`pytest &` from a script) inherits an ignored SIGINT, which Python then
    # keeps ignoring: give the child the default disposition a terminal's Ctrl-C meets.
    proc = subprocess.Popen([sys.executable, "-m", "cnnkit.cli", "train", digits_dir, "--epochs", "500", "--out",
                             str(out), "--verbose", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 300
        while not (out / "model.keras").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never leave a 500-epoch run behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Interrupted: the best model so far is in" in stdout
    assert "Traceback" not in stderr
    model = load_model(str(out / "model.keras"))
    assert model.output_shape == (None, 3)
    report = (out / "report.html").read_text()  # the report is written for the best model so far
    assert "interrupted with Ctrl-C" in report and "best epoch: " in report


def test_a_misspelt_architecture_gets_did_you_mean(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", str(tmp_path), "--model", "mobilenet_v2"])
    assert info.value.code == 2
    assert "Did you mean 'mobilenetv2'?" in capsys.readouterr().err
    assert cli.main(["train", str(tmp_path / "none"), "--model", "MobileNetV2"]) == 2  # any case: the folder fails
    assert "is not a folder" in capsys.readouterr().err


def test_train_in_a_redirected_log_prints_one_line_per_epoch(trained_run):
    """The default --verbose auto: not a terminal (the shared run's stdout redirected to a buffer), so one line per
    epoch and no '\\r' bars; the start says what is trained on what, the end where the report is."""
    out_dir, out = trained_run
    assert "\r" not in out
    lines = out.splitlines()
    assert any(line.startswith("Training small (") and "28x28 grayscale images, 3 classes, 3 epochs; run folder: "
               f"{out_dir}" in line for line in lines), lines
    epoch_lines = [line for line in lines if " - accuracy: " in line and "val_accuracy: " in line]
    assert len(epoch_lines) == 3
    assert lines[-1] == f"report: {os.path.join(out_dir, 'report.html')}"


def test_fine_tune_trains_the_head_then_the_last_block(few_digits_dir, tmp_path, capsys):
    """--freeze --cache --fine-tune 1 --optimizer sgd --lr 0.05 --patience 3: epoch 1 trains the head on the frozen
    (cached) backbone, epoch 2 also the backbone's last block at a tenth of the learning rate; the rest of the
    backbone keeps the file's weights. MobileNetV2 as a backbone: 'tf' preprocessing, the report looks inside it,
    predict uses it."""
    from cnnkit.applications import MobileNetV2  # noqa: PLC0415
    from cnnkit.runs import last_block, train  # noqa: PLC0415

    source = MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = str(tmp_path / "backbone.weights.h5")
    source.save_weights(weights)
    out = str(tmp_path / "run")
    argv = ["train", few_digits_dir, "--model", "mobilenetv2", "--weights", weights, "--freeze", "--cache",
            "--epochs", "1", "--fine-tune", "1", "--optimizer", "sgd", "--lr", "0.05", "--patience", "3", "--out", out,
            "--verbose", "0"]
    args = cli.parse_args(argv)
    assert (args.fine_tune, args.cache, args.optimizer, args.lr, args.patience) == (1, True, "sgd", 0.05, 3)
    net, _, _ = train(few_digits_dir, model="mobilenetv2", weights=weights, freeze=True, cache=True, epochs=1,
                      fine_tune=1, optimizer="sgd", learning_rate=0.05, patience=3, out=out, verbose=0,
                      command=" ".join(argv))
    rows = list(csv.DictReader(open(os.path.join(out, "history.csv"))))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    block = {id(layer) for layer in last_block(source, "out_relu")}
    assert {"block_13_depthwise", "block_16_project", "Conv_1"} <= {source.get_layer(n).name for n in
                                                                     ("block_13_depthwise", "block_16_project",
                                                                      "Conv_1") if id(source.get_layer(n)) in block}
    assert id(source.get_layer("block_12_project")) not in block
    # the final model (epoch 2): the last block moved, the rest of the backbone kept the file's weights
    final = net.get_layer(source.name)
    changed = [mine.name for mine, theirs in zip(source.layers, final.layers)
               if any(not np.array_equal(a, b) for a, b in zip(mine.get_weights(), theirs.get_weights()))]
    assert changed and all(id(source.get_layer(name)) in block for name in changed)
    report = open(os.path.join(out, "report.html")).read()
    assert "sgd (learning rate 0.05)" in report and "learning rate 0.005" in report and "patience 3" in report
    assert "--fine-tune 1" in report  # the command line, to reproduce the run
    assert "Not available" not in report
    assert all(f"<h2>{title}" in report for title in ("First-layer filters (", "Feature maps", "Grad-CAM"))
    labels = json.load(open(os.path.join(out, "labels.json")))
    assert labels["preprocessing"] == "tf" and labels["color_mode"] == "rgb" and labels["image_size"] == [32, 32]
    capsys.readouterr()
    assert cli.main(["predict", os.path.join(out, "model.keras"), os.path.join(few_digits_dir, "7"), "--top",
                     "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 15


def test_last_block_of_resnet50_and_vgg16():
    from cnnkit.applications import VGG16, ResNet50  # noqa: PLC0415
    from cnnkit.runs import last_block  # noqa: PLC0415

    names = [layer.name for layer in last_block(ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3)),
                                                "conv5_block3_out")]
    assert names[0] == "conv5_block1_1_conv" and names[-1] == "conv5_block3_out"
    assert all(name.startswith("conv5_") for name in names)
    names = [layer.name for layer in last_block(VGG16(include_top=False, weights=None, input_shape=(64, 64, 3)),
                                                "block5_conv3")]
    assert names == ["block4_pool", "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]


@pytest.mark.parametrize("argv, message", [
    (["--fine-tune", "2"], "--fine-tune unfreezes the last block of a pretrained backbone"),
    (["--cache"], "--cache keeps the frozen backbone's features: add --freeze"),
    (["--model", "resnet50", "--weights", "w.h5", "--freeze", "--cache", "--augment", "flip"],
     "cannot be combined with --augment"),
])
def test_workflow_option_mistakes_are_one_line(digits_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli.main(["train", digits_dir, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [(["--optimizer", "adm"], "Did you mean 'adam'?"),
                                           (["--lr", "0"], "expected a positive number like 0.001; got '0'")])
def test_bad_optimizer_and_learning_rate(digits_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", digits_dir, *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_lr_find_suggests_a_learning_rate(digits_dir, tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert cli.main(["lr-find", digits_dir, "--steps", "20", "--out", str(plot)]) == 0
    out = capsys.readouterr().out
    rate = float(out.split("suggested learning rate: ")[1].split()[0])
    assert 1e-7 <= rate <= 10 and plot.exists()
    assert f"cnnkit train {digits_dir} --model small --lr " in out


def test_images_without_class_folders_say_how_to_arrange_them(tmp_path, capsys):
    from cnnkit.utils import save_img  # noqa: PLC0415

    for i in range(3):
        save_img(str(tmp_path / f"photo{i}.png"), np.zeros((8, 8, 3), dtype=np.uint8))
    assert cli.main(["train", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "holds 3 images but no class sub-folders: put each class in its own sub-folder" in err


def test_predict_streams_files_in_batches(trained, digits_dir, monkeypatch):
    """Memory flat in the number of files: the first prediction comes after one batch of files is decoded."""
    import cnnkit.inference as inference  # noqa: PLC0415

    decoded = []
    real = inference.load_img
    monkeypatch.setattr(inference, "load_img", lambda path, **kw: decoded.append(path) or real(path, **kw))
    model, labels = inference.load_run(os.path.join(trained, "model.keras"))
    files = inference.image_paths([digits_dir])
    stream = inference.predict_files(model, labels, files, top=1, batch_size=8)
    first = next(stream)
    assert first["path"] == files[0] and len(decoded) == 8
    assert len(list(stream)) == len(files) - 1 and len(decoded) == len(files)


def test_predict_csv_skips_unreadable_files_with_one_line(trained, digits_dir, tmp_path, capsys):
    import shutil  # noqa: PLC0415

    folder = tmp_path / "photos"
    folder.mkdir()
    sources = [os.path.join(digits_dir, "7", f) for f in sorted(os.listdir(os.path.join(digits_dir, "7")))[:3]]
    for i, source in enumerate(sources):
        shutil.copy(source, folder / f"{i}.png")
    (folder / "1_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    table = tmp_path / "predictions.csv"
    capsys.readouterr()
    assert cli.main(["predict", os.path.join(trained, "model.keras"), str(folder), "--csv", str(table), "--top",
                     "2", "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.reader(open(table)))
    assert rows[0] == ["path", "class_1", "probability_1", "class_2", "probability_2"]
    assert [os.path.basename(r[0]) for r in rows[1:]] == ["0.png", "1.png", "2.png"]
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and "1_broken.png: cannot read it as an image" in skipped[0]
    assert "1 of 4 files skipped" in captured.err and "Traceback" not in captured.err
    model = load_model(os.path.join(trained, "model.keras"))
    x = np.stack([img_to_array(load_img(f, color_mode="grayscale", target_size=(28, 28))) / 255 for f in sources])
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], expected.max(-1), atol=1e-5)


def test_evaluate_per_class_report_confusion_matrix_tta_and_html(trained, digits_dir, tmp_path, capsys):
    from cnnkit.preprocessing.image import ImageDataGenerator  # noqa: PLC0415
    from cnnkit.training.tta import evaluate_tta  # noqa: PLC0415

    report = tmp_path / "evaluation.html"
    capsys.readouterr()
    assert cli.main(["evaluate", os.path.join(trained, "model.keras"), digits_dir, "--tta", "hflip", "--report",
                     str(report)]) == 0
    out = capsys.readouterr().out
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        digits_dir, target_size=(28, 28), color_mode="grayscale", class_mode="sparse", shuffle=False)
    model = load_model(os.path.join(trained, "model.keras"))
    expected = evaluate_tta(model, flow, transforms=("hflip",))
    assert f"accuracy: {expected['accuracy']:.4f} (test-time augmentation: hflip)" in out
    assert "precision" in out and "recall" in out
    matrix_lines = out.split("confusion matrix (rows: true class, columns: predicted class):\n")[1].splitlines()[1:4]
    matrix = np.array([[int(v) for v in line.split()[1:]] for line in matrix_lines])
    assert matrix.sum() == 180 and matrix.sum(axis=1).tolist() == [60, 60, 60]
    assert np.trace(matrix) / 180 == pytest.approx(expected["accuracy"])
    html = report.read_text()
    assert "<h2>Validation</h2>" in html and "Most confused" in html and "Grad-CAM" in html


def test_exported_onnx_carries_class_names_and_preprocessing(trained, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "digits.onnx"
    assert cli.main(["export", os.path.join(trained, "model.keras"), str(out)]) == 0
    metadata = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(metadata["class_names"]) == ["0", "1", "7"]
    assert metadata["preprocessing"] == "rescale" and metadata["color_mode"] == "grayscale"
    assert json.loads(metadata["image_size"]) == [28, 28]
