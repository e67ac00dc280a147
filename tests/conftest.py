"""Shared fixtures: the Keras oracle (Keras 3 on TensorFlow, imported once per session) and a fresh name scope."""

import contextlib
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's oneDNN convolutions return wrong values for some one-channel inputs (e.g. Conv3D, in_channels=1,
# strides (1, 1, 2)); with them off the oracle computes with TensorFlow's reference kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@pytest.fixture(scope="session")
def keras():
    """Keras 3 with the TensorFlow backend: the reference every numeric test compares against."""
    import keras as keras_module  # noqa: PLC0415 (import on demand: TensorFlow takes seconds to load)

    if keras_module.backend.backend() != "tensorflow":
        pytest.fail("The Keras oracle must run on the TensorFlow backend (KERAS_BACKEND=tensorflow).")
    return keras_module


@pytest.fixture(autouse=True)
def _fresh_names():
    """Each test starts with fresh layer names and seeded global generators (torch, numpy, random), so a run
    never depends on test order or luck; tests that need other seeds set them."""
    from cnnkit.utils import clear_session  # noqa: PLC0415
    from cnnkit.utils import set_random_seed  # noqa: PLC0415

    clear_session(free_memory=False)  # names only: a garbage collection per test would slow the suite
    set_random_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


class _Logs:
    """cnnkit's log lines (the 'cnnkit' loggers: unreadable files, left-out files), recorded by `expect`."""

    def __init__(self, caplog):
        self.caplog = caplog

    @property
    def messages(self):
        return [record.getMessage() for record in self.caplog.records if record.name.startswith("cnnkit")]

    @contextlib.contextmanager
    def expect(self, pattern=None):
        """Records the block's cnnkit log lines; with `pattern`, one of them must match it (re.search)."""
        import logging  # noqa: PLC0415
        import re  # noqa: PLC0415

        self.caplog.clear()
        with self.caplog.at_level(logging.WARNING, logger="cnnkit"):
            yield self
        if pattern is not None:
            assert any(re.search(pattern, m) for m in self.messages), self.messages


@pytest.fixture
def cnnkit_logs(caplog):
    """Checks cnnkit's `logging` messages: `with cnnkit_logs.expect(r"Skipping unreadable image .*x.png"): ...`."""
    return _Logs(caplog)
