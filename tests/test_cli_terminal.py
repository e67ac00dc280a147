"""The command line's start-up and arguments: --version, --help without torch, options and positionals in any
order, and the architecture list that --help shows."""

import subprocess
import sys

import pytest

from cnnkit import cli


def test_help_and_version_start_without_torch():
    script = ("import sys\nfrom cnnkit import cli\nfor argv in (['--help'], ['train', '--help'], ['--version']):\n"
              "    try:\n        cli.main(argv)\n    except SystemExit as e:\n        assert e.code == 0, argv\n"
              "print('torch loaded:', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "usage: cnnkit train" in out.stdout and "--validation-split" in out.stdout
    assert "cnnkit 0.1.0" in out.stdout
    assert out.stdout.strip().endswith("torch loaded: False")


def test_version(capsys):
    import cnnkit  # noqa: PLC0415

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnnkit {cnnkit.__version__}"


def test_the_listed_architectures_are_the_registry():
    from cnnkit.applications import APPLICATIONS  # noqa: PLC0415

    assert list(cli.ARCHITECTURES) == APPLICATIONS.names()


@pytest.mark.parametrize("argv", [
    ["export", "small", "--input-shape", "64,64,3", "out.onnx"],
    ["export", "--input-shape", "64,64,3", "small", "out.onnx"],
    ["export", "small", "out.onnx", "--input-shape", "64,64,3"],
])
def test_options_and_positionals_in_any_order(argv):
    args = cli.parse_args(argv)
    assert (args.command, args.model, args.out, args.input_shape) == ("export", "small", "out.onnx", (64, 64, 3))


def test_verbose_takes_auto_and_levels(capsys):
    assert cli.parse_args(["train", "data"]).verbose == "auto"
    assert cli.parse_args(["train", "data", "--verbose", "2"]).verbose == 2
    with pytest.raises(SystemExit):
        cli.parse_args(["train", "data", "--verbose", "3"])
    assert "expected auto, 0, 1 or 2; got '3'" in capsys.readouterr().err
