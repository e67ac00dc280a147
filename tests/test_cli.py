"""The command line: `cnnkit summary` prints the architecture; bad input is one clear line and exit code 2."""

import subprocess
import sys

from cnnkit import cli


def test_summary_lenet_prints_seed_counts(capsys):
    assert cli.main(["summary", "lenet"]) == 0
    out = capsys.readouterr().out
    # Per-layer counts of the seeds' LeNet: (5*5*1+1)*6, (5*5*6+1)*16, 400*120+120, 120*84+84, 84*10+10.
    for count in ("156", "2,416", "48,120", "10,164", "850"):
        assert f" {count} │" in out
    assert "Total params: 61,706" in out
    assert "(None, 5, 5, 16)" in out


def test_summary_input_shape_and_classes(capsys):
    assert cli.main(["summary", "small", "--input-shape", "32,32,3", "--classes", "5"]) == 0
    out = capsys.readouterr().out
    assert "(None, 30, 30, 32)" in out and "(None, 5)" in out


def test_misspelt_model_suggests(capsys):
    assert cli.main(["summary", "lenett"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Did you mean 'lenet'?" in err and len(err.splitlines()) == 1


def test_too_small_input_is_one_clear_line(capsys):
    assert cli.main(["summary", "small", "--input-shape", "10,10,1"]) == 2
    err = capsys.readouterr().err
    assert "larger than the input" in err and "Traceback" not in err


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "cnnkit.cli", "summary", "lenet"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'Model: "lenet"' in proc.stdout


def test_demo_trains_the_seeds_convnet_to_095(capsys):
    """The main job: 12 epochs of the seeds' MNIST convnet on mnist_5k reach at least 0.95 test accuracy."""
    assert cli.main(["demo", "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 93,322" in out and "Epoch 12/12" in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy >= 0.95


def test_demo_rejects_bad_arguments(capsys):
    try:
        cli.main(["demo", "--epochs", "twelve"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid int value" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    import pytest  # noqa: PLC0415

    import argparse  # noqa: PLC0415

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = sorted(sub.choices)
    assert {"demo", "train", "evaluate", "predict", "summary", "plot", "export"} <= set(commands)
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
        assert f"usage: cnnkit {command}" in capsys.readouterr().out
