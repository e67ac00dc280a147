"""cnnkit in a real Jupyter kernel (nbclient + ipykernel): a live progress bar without warnings, the model and its
summary as HTML tables, History's last metrics, and each plot shown once."""

import importlib.util
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
if importlib.util.find_spec("ipykernel") is None or importlib.util.find_spec("matplotlib") is None:
    pytest.skip("needs ipykernel and matplotlib", allow_module_level=True)  # (found, not imported: importing
    # ipykernel here would make this process look like a notebook to every later test)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CELLS = [
    "import numpy as np\nimport cnnkit\nfrom cnnkit import layers\n"
    "model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation='relu'), layers.Flatten(),"
    " layers.Dense(3, activation='softmax')])\n"
    "model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])\nmodel",
    "model.summary()",
    "rng = np.random.default_rng(0)\nx, y = rng.random((40, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 40)\n"
    "history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25)",
    "history",
    "from cnnkit.visualization import plot_history\nplot_history(history)",
]


def _outputs(cell, kind):
    return [o for o in cell.outputs if o.output_type == kind]


def test_a_notebook_shows_bars_tables_and_each_plot_once():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
    model_cell, summary_cell, fit_cell, history_cell, plot_cell = nb.cells

    (shown,) = _outputs(model_cell, "execute_result")
    assert "<table>" in shown.data["text/html"] and "conv2d (Conv2D)" in shown.data["text/html"]
    (table,) = _outputs(summary_cell, "display_data")  # 4 * (9 + 1) + 6 * 6 * 4 * 3 + 3 = 475
    assert "Total params: 475 " in table.data["text/html"]

    streams = _outputs(fit_cell, "stream")
    assert all(s.name == "stdout" for s in streams), [s.text for s in streams if s.name != "stdout"]  # no warnings
    text = "".join(s.text for s in streams)
    assert "Epoch 1/2" in text and "\r" in text  # a live bar, redrawn in place
    assert text.count("val_accuracy: ") == 2  # the whole line at the end of each epoch

    (result,) = _outputs(history_cell, "execute_result")
    assert "History: 2 epochs" in result.data["text/html"] and "val_loss" in result.data["text/html"]

    images = [o for o in plot_cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # returned and shown once, not also drawn again by pyplot at the end of the cell
