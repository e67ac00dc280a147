"""TensorBoard callback: files read back with TensorBoard's own event reader, against Keras's callback on the same
model, weights and data (runs, tags, steps, values) and against cnnkit's History and batch logs."""

import os
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import cnnkit  # noqa: E402
from cnnkit import Sequential  # noqa: E402
from cnnkit import callbacks  # noqa: E402
from cnnkit import layers  # noqa: E402
from cnnkit import optimizers  # noqa: E402


def read_run(folder):
    """{tag: [(step, value)]} of one run: scalars as floats, histograms as (30, 3) arrays, images as None."""
    # purge_orphaned_data=False: batch steps and epoch steps interleave in one file (Keras's files too)
    events = EventAccumulator(folder, size_guidance={"tensors": 0, "scalars": 0, "histograms": 0, "images": 0},
                              purge_orphaned_data=False)
    events.Reload()
    found = {}
    tags = events.Tags()
    for tag in tags["tensors"]:
        found[tag] = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)]
        if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            found[tag] = [(step, float(value)) for step, value in found[tag]]
    for tag in tags["images"]:
        found[tag] = [(e.step, None) for e in events.Images(tag)]
    return found


def read_logs(log_dir):
    return {run: read_run(os.path.join(log_dir, run)) for run in sorted(os.listdir(log_dir))}


def _data(rng):
    x = rng.random((10, 6, 6, 1), dtype=np.float32)
    return x, rng.integers(0, 3, 10)


def test_tensorboard_files_match_keras_and_history(keras, rng, tmp_path):
    x, y = _data(rng)
    def build(lib):  # names given: Keras's counters depend on what other tests built
        return lib.Sequential([lib.Input((6, 6, 1)), lib.layers.Conv2D(2, 3, name="conv2d"), lib.layers.Flatten(),
                               lib.layers.Dense(3, activation="softmax", name="dense")], name="sequential")
    kmodel, model = build(keras), build(cnnkit)
    model.set_weights(kmodel.get_weights())
    settings = dict(histogram_freq=1, update_freq=2, write_images=True)
    # 2 batches per epoch and per validation: Keras's update_freq=2 then records every epoch's values too (Keras
    # 3.15 drops those of an epoch whose batch count update_freq does not divide; cnnkit writes them all)
    fit = dict(batch_size=5, epochs=2, validation_data=(x, y), shuffle=False, verbose=0)
    kmodel.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    kmodel.fit(x, y, callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "keras"), **settings)], **fit)

    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    batch_logs, epoch_weights = [], []
    record = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs)),
                                      on_epoch_end=lambda epoch, logs: epoch_weights.append(model.get_weights()))
    history = model.fit(x, y, callbacks=[record, callbacks.TensorBoard(tmp_path / "cnnkit", **settings)], **fit)

    expected, got = read_logs(tmp_path / "keras"), read_logs(tmp_path / "cnnkit")
    assert list(got) == list(expected) == ["train", "validation"]
    for run in got:
        assert sorted(got[run]) == sorted(expected[run]), run
        for tag, values in got[run].items():
            assert [s for s, _ in values] == [s for s, _ in expected[run][tag]], (run, tag)
            if isinstance(values[0][1], float):  # the same training as Keras: the same numbers
                np.testing.assert_allclose([v for _, v in values], [v for _, v in expected[run][tag]], rtol=1e-4,
                                           atol=1e-6, err_msg=f"{run}/{tag}")
    train, validation = got["train"], got["validation"]
    for name, values in history.history.items():
        run, tag = (validation, f"epoch_{name[4:]}") if name.startswith("val_") else (train, f"epoch_{name}")
        assert run[tag] == [(0, pytest.approx(values[0], rel=1e-6)), (1, pytest.approx(values[1], rel=1e-6))]
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.1, 0.1])
    assert [v for _, v in train["batch_loss"]] == pytest.approx([batch_logs[i]["loss"] for i in (1, 3)])
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [2, 4]  # optimizer steps
    kernel = train["sequential/dense/kernel/histogram"]  # TensorBoard's 30 buckets of the epoch's weights
    for (step, buckets), weights in zip(kernel, epoch_weights):
        w = weights[2]
        assert buckets.shape == (30, 3) and buckets[:, 2].sum() == w.size
        assert buckets[0, 0] == pytest.approx(w.min()) and buckets[-1, 1] == pytest.approx(w.max())
        counts, _ = np.histogram(w, bins=30, range=(w.min(), w.max()))
        assert abs(buckets[:, 2] - counts).sum() <= 2  # a value on a bucket edge may fall either side
    config = train["keras"][0][1]  # the model's configuration, for TensorBoard's graph view
    assert b'"class_name": "Sequential"' in config.item()


def test_tensorboard_evaluate_and_batch_update_freq(rng, tmp_path):
    x, y = _data(rng)
    model = Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    board = callbacks.TensorBoard(tmp_path, update_freq="batch", write_graph=False, write_steps_per_second=True)
    model.fit(x, y, batch_size=5, epochs=2, callbacks=[board], verbose=0)
    loss = model.evaluate(x, y, callbacks=[board], verbose=0)
    logs = read_logs(tmp_path)
    assert sorted(logs["train"]) == ["batch_loss", "batch_steps_per_second", "epoch_learning_rate", "epoch_loss",
                                     "epoch_steps_per_second"]
    assert [s for s, _ in logs["train"]["batch_loss"]] == [1, 2, 3, 4]
    speeds = logs["train"]["epoch_steps_per_second"]
    assert [s for s, _ in speeds] == [0, 1] and all(v > 0 for _, v in speeds)
    assert logs["validation"] == {"evaluation_loss_vs_iterations": [(4, pytest.approx(loss))]}


def test_tensorboard_arguments(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive int. Received: "
                                         "update_freq=0"):
        callbacks.TensorBoard(tmp_path, update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq must be a non-negative int. Received: histogram_freq=-1"):
        callbacks.TensorBoard(tmp_path, histogram_freq=-1)
    with pytest.raises(ValueError, match="profile_batch must be a non-negative integer"):
        callbacks.TensorBoard(tmp_path, profile_batch=(5, 2))
    with pytest.warns(UserWarning, match="does not profile batches or write embeddings; ignoring "
                                         "profile_batch=.10, 20..$"):
        callbacks.TensorBoard(tmp_path, profile_batch=(10, 20))
    assert callbacks.TensorBoard.chief_only and not callbacks.History.chief_only
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as without the tensorboard package
    with pytest.raises(ImportError, match="needs the `tensorboard` package: pip install tensorboard"):
        callbacks.TensorBoard(tmp_path)
