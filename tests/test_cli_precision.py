"""`cnnkit train --precision`: the run's layers are built under the chosen dtype policy, and the help says which
precisions this machine runs fast (cnnkit.precision_support)."""

import json
import os

import numpy as np
import pytest

from cnnkit import cli
from cnnkit.data import write_image_folder
from cnnkit.datasets import mnist_5k
from cnnkit.mixed_precision import global_policy
from cnnkit.models import Model, load_model
from cnnkit.precision_support import PRECISIONS, cpu_flags, precision_help, supported_precisions


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """A 1-epoch mixed_bfloat16 run of the small convnet on 2 classes x 16 real digits."""
    (x, y), _ = mnist_5k.load_data()
    keep = np.concatenate([np.flatnonzero(y == d)[:16] for d in (0, 1)])
    root = tmp_path_factory.mktemp("precision")
    write_image_folder(x[keep], y[keep], str(root / "data"), class_names=["0", "1"])
    out = str(root / "run")
    assert cli.main(["train", str(root / "data"), "--epochs", "1", "--batch-size", "8", "--out", out,
                     "--verbose", "0", "--precision", "mixed_bfloat16"]) == 0
    return str(root / "data"), out


def test_bf16_run_builds_bf16_layers_and_records_it(bf16_run, keras):
    data, out = bf16_run
    assert json.load(open(os.path.join(out, "labels.json")))["precision"] == "mixed_bfloat16"
    assert "mixed_bfloat16" in open(os.path.join(out, "report.html")).read()
    assert global_policy().name == "float32"  # the run's policy does not leak out of train()
    path = os.path.join(out, "model.keras")
    ours = load_model(path)
    theirs = keras.saving.load_model(path)  # the oracle: Keras reading the same file
    weighted = [layer for layer in theirs.layers if layer.weights]
    assert weighted and all(layer.dtype_policy.name == "mixed_bfloat16" for layer in weighted)
    assert [layer.dtype_policy.name for layer in ours.layers] == [layer.dtype_policy.name for layer in theirs.layers]
    conv = next(layer for layer in ours.layers if type(layer).__name__ == "Conv2D")
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    x = np.asarray(load_img_batch(data), dtype="float32")
    mine = Model(ours.inputs, conv.output)(x)  # the convolution really computes in bfloat16, as Keras's does
    keras_out = theirs.get_layer(conv.name)(x)
    assert "bfloat16" in str(mine.dtype) and "bfloat16" in str(keras_out.dtype)
    np.testing.assert_allclose(mine.float().detach().numpy(), np.asarray(keras_out, dtype="float32"), rtol=2e-2,
                               atol=2e-2 * float(np.abs(np.asarray(keras_out, dtype="float32")).max()))


def load_img_batch(data):
    from cnnkit.utils import img_to_array, load_img  # noqa: PLC0415

    files = [os.path.join(data, "1", f) for f in sorted(os.listdir(os.path.join(data, "1")))[:4]]
    return np.stack([img_to_array(load_img(f, color_mode="grayscale", target_size=(28, 28))) / 255 for f in files])


def test_bf16_model_predicts(bf16_run, capsys):
    data, out = bf16_run
    capsys.readouterr()
    assert cli.main(["predict", os.path.join(out, "model.keras"), os.path.join(data, "1"), "--top", "2",
                     "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 16
    for result in results:
        probabilities = [p["probability"] for p in result["predictions"]]
        assert {p["class"] for p in result["predictions"]} == {"0", "1"}
        assert abs(sum(probabilities) - 1) < 2e-2 and probabilities[0] >= probabilities[1]  # bfloat16 softmax


def test_bad_precision_is_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", str(tmp_path), "--precision", "float64"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float64'" in capsys.readouterr().err


def test_help_says_what_this_machine_supports(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in PRECISIONS:
        assert name in text
    bf16 = supported_precisions()["mixed_bfloat16"]
    assert " ".join(bf16.split()) in text
    assert ("fast on this CPU" in bf16) == bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert precision_help().startswith("global dtype policy")


def test_supported_precisions_from_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "sse", "avx512f", "avx512_bf16", "avx512_vnni"}
    assert cpu_flags(str(tmp_path / "missing")) == set()
    zen4 = supported_precisions(flags=cpu_flags(str(info)), cuda=False)
    assert zen4["mixed_bfloat16"] == "fast on this CPU (avx512_bf16)"
    assert zen4["mixed_float16"].startswith("emulated on this CPU")
    old = supported_precisions(flags={"avx2"}, cuda=False)
    assert old["mixed_bfloat16"].startswith("emulated on this CPU")
    amx = supported_precisions(flags={"amx_bf16", "amx_fp16", "avx512_bf16"}, cuda=False)
    assert amx["mixed_bfloat16"] == "fast on this CPU (amx_bf16, avx512_bf16)"
    assert amx["mixed_float16"] == "fast on this CPU (amx_fp16)"
    gpu = supported_precisions(flags=set(), cuda=True)
    assert gpu["mixed_float16"].startswith("on the GPU") and "Ampere" in gpu["mixed_bfloat16"]
