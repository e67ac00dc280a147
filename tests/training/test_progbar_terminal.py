"""The progress display in a real pseudo-terminal of 0, 80 and 120 columns: the end-of-epoch line is printed whole
(Keras prints it whole in all three), and the in-epoch bar shows an ETA."""

import os
import pty
import re
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import fcntl, struct, sys, termios
    import numpy as np
    import cnnkit
    from cnnkit import layers

    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for columns in (0, 80, 120):
        fcntl.ioctl(sys.stdout.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        print(f"== columns {columns}", flush=True)
        model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose="auto")
""")


def _run_in_pty(script):
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "", "LINES": ""}
    env.pop("COLUMNS")
    env.pop("LINES")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


def test_epoch_lines_are_whole_at_0_80_and_120_columns():
    out = _run_in_pty(SCRIPT)
    sections = re.split(r"== columns (\d+)", out)[1:]
    assert [sections[i] for i in range(0, len(sections), 2)] == ["0", "80", "120"]
    final = re.compile(r"^(\d+)/\1 ━{20} \d+s \d+(?:us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d+\.\d{4} - "
                       r"val_accuracy: \d\.\d{4} - val_loss: \d+\.\d{4}$")
    for columns, text in zip(sections[0::2], sections[1::2]):
        lines = [line.rsplit("\r", 1)[-1].strip() for line in text.replace("\r\n", "\n").split("\n")]
        finished = [line for line in lines if final.match(line)]
        assert len(finished) == 2, (columns, lines)  # one whole line per epoch, nothing cut
        assert "Epoch 1/2" in lines and "Epoch 2/2" in lines


def test_bar_shows_eta_while_an_epoch_runs():
    from cnnkit.training.callbacks.progbar import format_eta

    assert [format_eta(s) for s in (5.2, 125, 3725)] == ["5s", "2:05", "1:02:05"]  # Keras's forms
