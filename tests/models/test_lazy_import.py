"""`import cnnkit` loads its sub-packages on first use; files still load without importing what defined their
layers (the applications' residual layers are registered with cnnkit.layers)."""

import subprocess
import sys

import pytest

import cnnkit
from cnnkit import layers
from cnnkit.layers.residual import CustomScaleLayer
from cnnkit.layers.residual import LayerScale


def test_import_cnnkit_does_not_load_torch_and_attributes_resolve():
    script = ("import sys, cnnkit\nassert 'torch' not in sys.modules\n"
              "print(cnnkit.Sequential.__name__, cnnkit.layers.Conv2D.__name__, cnnkit.applications.ResNet50.__name__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Sequential", "Conv2D", "ResNet50"]


def test_a_misspelt_attribute_gets_did_you_mean():
    with pytest.raises(AttributeError, match="Did you mean 'layers'"):
        cnnkit.layer  # noqa: B018


def test_files_with_the_applications_layers_load_without_importing_applications(tmp_path):
    x = layers.Input((4,))
    y = LayerScale(0.5, 4)(CustomScaleLayer(0.5)([x, x]))
    path = str(tmp_path / "m.keras")
    cnnkit.models.Model(x, y).save(path)
    script = (f"import sys\nfrom cnnkit.models import load_model\nm = load_model({path!r})\n"
              "print(*[type(l).__name__ for l in m.layers[1:]], 'cnnkit.applications' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["CustomScaleLayer", "LayerScale", "False"]
