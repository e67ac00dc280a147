"""A training job for tests/training/test_distributed.py: run under torchrun (several processes) or called in
one process, with the same data, model and seeds; each process writes what it ended with to OUT/rank<r>.npz.

    python -m torch.distributed.run --standalone --nproc_per_node=2 distributed_job.py OUT DATA_DIR

Every process seeds its generators with its rank, so only process 0's initial weights, shuffles and iterator seed
match a single process seeded 0: the test checks that distributed training uses process 0's everywhere.
"""

import importlib.util
import json
import os
import sys

import numpy as np


def arrays():
    """29 training samples (batches of 7: parts of 4 and 3, then a last batch of 1 that leaves process 1 without a
    sample), sample weights, and 11 validation samples."""
    rng = np.random.default_rng(123)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    weights = rng.uniform(0.5, 2.0, 29).astype(np.float32)
    return x[:29], y[:29], weights, x[29:], y[29:]


def model_for(input_shape):
    from cnnkit import Sequential  # noqa: PLC0415
    from cnnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: PLC0415
    return Sequential([Conv2D(4, 3, activation="relu", input_shape=input_shape), MaxPooling2D(2), Flatten(),
                       Dense(3, activation="softmax")])


def marker_callbacks(out):
    """A user callback declared chief_only (writes chief_<rank>.txt) and an ordinary one (every_<rank>.txt)."""
    from cnnkit import callbacks  # noqa: PLC0415
    rank = os.environ.get("RANK", "0")

    class Marker(callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_train_end(self, logs=None):
            with open(os.path.join(out, f"{self.name}_{rank}.txt"), "w") as f:
                f.write(json.dumps(logs))

    class ChiefMarker(Marker):
        chief_only = True

    return [ChiefMarker("chief"), Marker("every")]


def run(kind, out, data_dir=None):
    """Trains; returns (final weights, history dict). Writes checkpoints, a CSV log, the marker callbacks' files
    (arrays) and, under torchrun, TensorBoard logs (arrays, when tensorboard is installed) to `out`."""
    from cnnkit import callbacks, metrics, optimizers  # noqa: PLC0415
    from cnnkit.preprocessing.image import ImageDataGenerator  # noqa: PLC0415
    from cnnkit.utils import set_random_seed  # noqa: PLC0415

    set_random_seed(int(os.environ.get("RANK", "0")))
    logging = [callbacks.ModelCheckpoint(os.path.join(out, "best.weights.h5"), monitor="val_loss",
                                         save_best_only=True, save_weights_only=True),
               callbacks.CSVLogger(os.path.join(out, "log.csv"))]
    if kind == "arrays":
        logging += marker_callbacks(out)
        if importlib.util.find_spec("tensorboard") is not None and "RANK" in os.environ:  # checked under torchrun
            logging.append(callbacks.TensorBoard(os.path.join(out, "tb"), histogram_freq=1, update_freq=2))
    if kind == "arrays":
        x, y, weights, xv, yv = arrays()
        model = model_for((8, 8, 1))
        model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", metrics.MeanIoU(num_classes=3, sparse_y_pred=False)])  # summed states
        history = model.fit(x, y, sample_weight=weights, batch_size=7, epochs=3, shuffle=True,
                            validation_data=(xv, yv), callbacks=logging, verbose=2)
        evaluation = model.evaluate(xv, yv, batch_size=4, verbose=0)
    else:  # a class-folder tree of PNGs: 21 images, batches of 5 (the last batch of 1 leaves process 1 idle)
        generator = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True, rotation_range=10)
        flow = generator.flow_from_directory(data_dir, target_size=(8, 8), color_mode="grayscale",
                                             class_mode="sparse", batch_size=5, workers=2)  # seed from numpy
        val = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            data_dir, target_size=(8, 8), color_mode="grayscale", class_mode="sparse", batch_size=4, shuffle=False,
            workers=1)
        model = model_for((8, 8, 1))
        model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(flow, validation_data=val, epochs=2, callbacks=logging, verbose=2)
        evaluation = model.evaluate(val, verbose=0)
        history.history["batch_after_fit"] = [len(flow[0][0])]  # whole batches again once fit is done
    return model.get_weights(), {**history.history, "evaluate": evaluation}


def main(out, data_dir):
    """Both kinds in the same processes (the process group is made once), each in its own folder of `out`."""
    rank = os.environ.get("RANK", "0")
    for kind in ("arrays", "directory"):
        folder = os.path.join(out, kind)
        os.makedirs(folder, exist_ok=True)
        weights, logs = run(kind, folder, data_dir)
        np.savez(os.path.join(folder, f"rank{rank}.npz"), *weights)
        with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
            json.dump(logs, f)


if __name__ == "__main__":
    # as where cnnkit runs without TensorFlow: torch's SummaryWriter would otherwise import it (seconds per process)
    sys.modules["tensorflow"] = None
    main(sys.argv[1], sys.argv[2])
