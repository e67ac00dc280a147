"""benchmarks/run_all.py: parsing the scripts' `RATIO workload comparison value` lines, and a failing script
reported as a row instead of stopping the run (fake scripts here: nothing is timed)."""

import importlib.util
import math
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", os.path.join(ROOT, "benchmarks", "run_all.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_ratios(run_all):
    text = ("training samples/s ...\nmnist      812   640  1.27  1.32\nRATIO mnist cnnkit/torch 1.2700\n"
            "  RATIO cifar:fit cnnkit/keras 0.95  \nRATIO plain cnnkit-cache/keras-idg nan\n"
            "RATIO broken cnnkit/keras fast\nRATIO too few\nnot a RATIO mnist cnnkit/keras 9\n")
    rows = run_all.parse_ratios(text)
    assert [r[:2] for r in rows] == [("mnist", "cnnkit/torch"), ("cifar:fit", "cnnkit/keras"),
                                     ("plain", "cnnkit-cache/keras-idg")]
    assert rows[0][2] == 1.27 and rows[1][2] == 0.95 and math.isnan(rows[2][2])


def test_every_script_prints_ratio_lines(run_all):
    for name in run_all.BENCHMARKS:
        with open(os.path.join(ROOT, "benchmarks", name + ".py")) as f:
            assert 'print(f"RATIO ' in f.read(), name


def test_failing_script_is_a_row(run_all, tmp_path, monkeypatch, capsys):
    (tmp_path / "good.py").write_text("print('table')\nprint('RATIO mnist cnnkit/keras 1.5')\n")
    (tmp_path / "boom.py").write_text("print('RATIO partial cnnkit/keras 2.0')\nraise SystemExit('worker died')\n")
    (tmp_path / "quiet.py").write_text("print('no ratios here')\n")
    (tmp_path / "slow.py").write_text(  # a script whose worker process outlives it unless its group is stopped
        "import subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(tmp_path / 'worker.pid')!r}, 'w').write(str(worker.pid))\n"
        "time.sleep(60)\n")
    monkeypatch.setattr(run_all, "HERE", str(tmp_path))
    monkeypatch.setattr(run_all, "BENCHMARKS", {n: ([], []) for n in ("good", "boom", "quiet", "slow")})
    assert run_all.main(["--quick", "--timeout", "3", "--log-dir", str(tmp_path / "logs")]) == 1
    out = capsys.readouterr().out
    table = out[out.index("benchmark "):]
    assert "mnist" in table and "1.50" in table
    assert "partial" in table and "exit 1: worker died" in table
    assert "no RATIO lines: no ratios here" in table
    assert "timed out after 3 s" in table
    assert not _running(int((tmp_path / "worker.pid").read_text()))  # the timed-out script's worker is stopped too
    assert "load average before" in out and "load average after" in out
    assert sorted(os.listdir(tmp_path / "logs")) == ["boom.log", "good.log", "quiet.log", "slow.log"]
    assert run_all.main(["--only", "good"]) == 0
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nope"])


def _running(pid, wait=5.0):
    """Whether process `pid` still runs (not a zombie) after up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except FileNotFoundError:
            return False
        time.sleep(0.1)
    return True
