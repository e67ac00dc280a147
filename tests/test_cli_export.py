"""`cnnkit export MODEL [OUT] --onnx`: the written file, run by onnxruntime, gives what the saved model predicts;
bad input is one clear line on stderr and exit code 2."""

import numpy as np
import pytest

from cnnkit import cli
from cnnkit.applications import SmallConvNet
from cnnkit.models import load_model

ort = pytest.importorskip("onnxruntime")


def test_export_saved_model_next_to_it(tmp_path, capsys, rng):
    model = SmallConvNet(input_shape=(20, 20, 1), classes=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.random((16, 20, 20, 1), dtype=np.float32), rng.integers(0, 4, 16), epochs=1, verbose=0)
    path = tmp_path / "run" / "model.keras"
    model.save(path)
    assert cli.main(["export", str(path), "--onnx"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "run" / "model.onnx") in out
    session = ort.InferenceSession(str(tmp_path / "run" / "model.onnx"))
    x = rng.random((3, 20, 20, 1), dtype=np.float32)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                               load_model(path).predict(x, verbose=0), atol=1e-4, rtol=0)


def test_export_builtin_architecture_to_named_file(tmp_path, capsys):
    out = tmp_path / "lenet.onnx"
    assert cli.main(["export", "lenet", str(out), "--classes", "5", "--opset", "17"]) == 0
    session = ort.InferenceSession(str(out))
    assert session.get_outputs()[0].shape == ["batch", 5]
    assert session.get_inputs()[0].shape == ["batch", 28, 28, 1]


@pytest.mark.parametrize("argv, message", [
    (["export", "missing/model.keras"], "not found"),
    (["export", "lenett"], "Did you mean 'lenet'?"),
    (["export", "lenet", "{tmp}/a_file/m.onnx"], "is a file, not a folder"),
    (["export", "lenet", "{tmp}"], "not a folder"),
    (["export", "{tmp}/a_file.keras"], "is not a valid .keras archive"),
])
def test_bad_input_is_one_clear_line(argv, message, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_file.keras").write_text("not a zip")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("cnnkit export: error:")


def test_export_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["export", "--help"])
    assert exit_.value.code == 0
    assert "usage: cnnkit export" in capsys.readouterr().out
