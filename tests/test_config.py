"""config: device selection and the allocator setting (each check in a fresh process: it is once per process)."""

import subprocess
import sys

import pytest
import torch

from cnnkit import config

PROBE = ("import numpy as np, cnnkit; from cnnkit import config; m = cnnkit.Sequential([cnnkit.layers.Dense(2, "
         "input_shape=(3,))]); m.predict(np.zeros((4, 3)), verbose=0); print(config._state['allocator_tuned'])")


LAYER_PROBE = ("import numpy as np, cnnkit; from cnnkit import config; print(config._state['allocator_tuned']); "
               "cnnkit.layers.Dense(2)(np.zeros((4, 3))); print(config._state['allocator_tuned'])")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
@pytest.mark.parametrize("probe", [PROBE, LAYER_PROBE], ids=["predict", "a layer called on data"])
def test_running_a_model_turns_on_memory_reuse_unless_disabled(probe):
    on = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    off = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "CNNKIT_REUSE_MEMORY": "0"})
    assert on.stdout.strip().splitlines()[-1] == "True"
    assert off.stdout.strip().splitlines()[-1] == "False"


def test_set_device():
    try:
        config.set_device("cpu")
        assert config.get_device() == torch.device("cpu")
        with pytest.raises(ValueError, match="set_device"):
            config.set_device("gpu0")
    finally:
        config.set_device(None)
    assert config.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
