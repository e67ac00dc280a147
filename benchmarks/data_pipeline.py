"""Image-folder input pipelines, side by side: images/s of cnnkit vs Keras's ImageDataGenerator vs Keras 3
`image_dataset_from_directory` (tf.data) vs a PIL Dataset + torch DataLoader.

Run from the repository root (in the project's venv):

    python benchmarks/data_pipeline.py              # 3 rounds (~4 min)
    python benchmarks/data_pipeline.py --rounds 1   # quick look

The data: a folder of 12 classes x 140 JPEGs (quality 90) of random sizes 100-400 px (made once in --data, default
a temporary folder), read at target 150x150, batch 16, two settings:

    plain    rescale 1/255 only
    augment  rescale + horizontal & vertical flips + rotation 20 degrees + zoom 0.2

Configurations:
    cnnkit          ImageDataGenerator(...).flow_from_directory(...) (threads: all cores), indexed batch by batch
    cnnkit-cache    the same with cache=True; reported for the epochs after the first (decoded images in memory)
    keras-idg       Keras's ImageDataGenerator (keras.src.legacy.preprocessing.image, what tf.keras had)
    keras-tfdata    keras.utils.image_dataset_from_directory + map(rescale [+ RandomFlip, RandomRotation, RandomZoom
                    layers]) + prefetch(AUTOTUNE), iterated as numpy
    torch-loader    a PIL Dataset (open, RGB, resize nearest, flips / PIL rotate+zoom affine) + DataLoader(batch 16,
                    num_workers=2, shuffle)

Method: every (configuration, setting) run is its own Python process; a round runs each once, in an order rotated
every round. A run reads `--epochs` epochs (cnnkit-cache at least CACHED_EPOCHS); the figure is the median images/s
of the epochs after the first (for cnnkit-cache those are the cached epochs; for the others the first epoch warms
the page cache and thread pools). The table shows medians over rounds and the ratios cnnkit / each other
configuration; then the paired ratios: each round's ratio, and their median.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CLASSES, PER_CLASS, TARGET, BATCH = 12, 140, (150, 150), 16
CONFIGS = ["cnnkit", "cnnkit-cache", "keras-idg", "keras-tfdata", "torch-loader"]
SETTINGS = ["plain", "augment"]
AUGMENT = {"horizontal_flip": True, "vertical_flip": True, "rotation_range": 20, "zoom_range": 0.2}


def make_folder(root):
    """12 class folders of 140 JPEGs each, random sizes 100-400 px, smooth random content."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(CLASSES):
        folder = os.path.join(root, f"class_{c:02d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(PER_CLASS):
            height, width = (int(v) for v in rng.integers(100, 401, 2))
            small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).save(
                os.path.join(folder, f"img_{i:03d}.jpg"), quality=90)


def indexed_epoch(flow):
    """One epoch of a Keras-style iterator read batch by batch (as fit reads it): returns the image count."""
    def epoch():
        n = 0
        for i in range(len(flow)):
            x, _ = flow[i]
            n += len(x)
        flow.on_epoch_end()
        return n
    return epoch


def run_cnnkit(data, setting, epochs, cache=False):
    from cnnkit.preprocessing.image import ImageDataGenerator

    extra = AUGMENT if setting == "augment" else {}
    flow = ImageDataGenerator(rescale=1 / 255, **extra).flow_from_directory(
        data, target_size=TARGET, batch_size=BATCH, class_mode="sparse", seed=1, cache=cache)
    return indexed_epoch(flow), epochs


def run_keras_idg(data, setting, epochs):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    extra = AUGMENT if setting == "augment" else {}
    flow = ImageDataGenerator(rescale=1 / 255, **extra).flow_from_directory(
        data, target_size=TARGET, batch_size=BATCH, class_mode="sparse", seed=1)
    return indexed_epoch(flow), epochs


def run_keras_tfdata(data, setting, epochs):
    import keras
    import tensorflow as tf

    ds = keras.utils.image_dataset_from_directory(data, image_size=TARGET, batch_size=BATCH, seed=1,
                                                  interpolation="nearest", verbose=False)
    layers = [keras.layers.Rescaling(1 / 255)]
    if setting == "augment":
        layers += [keras.layers.RandomFlip("horizontal_and_vertical"), keras.layers.RandomRotation(20 / 360),
                   keras.layers.RandomZoom(0.2)]
    pipeline = keras.Sequential(layers)
    ds = ds.map(lambda x, y: (pipeline(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)

    def epoch():
        n = 0
        for x, _ in ds.as_numpy_iterator():
            n += len(x)
        return n
    return epoch, epochs


class FolderDataset:
    """The hand-written torch baseline: PIL decode + nearest resize (+ flips, rotation and zoom by PIL affine)."""

    def __init__(self, root, augment):
        from cnnkit.data.directory import index_directory

        _, files, labels = index_directory(root)
        self.paths, self.labels, self.augment = [os.path.join(root, f) for f in files], labels, augment

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch
        from PIL import Image

        with Image.open(self.paths[i]) as img:
            img = img.convert("RGB").resize(TARGET[::-1], Image.Resampling.NEAREST)
        if self.augment:
            rng = np.random.default_rng()
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
            angle, zoom = np.deg2rad(rng.uniform(-20, 20)), rng.uniform(0.8, 1.2)
            c, s, cx, cy = np.cos(angle) * zoom, np.sin(angle) * zoom, TARGET[1] / 2, TARGET[0] / 2
            img = img.transform(img.size, Image.Transform.AFFINE,
                                (c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy), Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32)) / 255.0
        return x, int(self.labels[i])


def run_torch_loader(data, setting, epochs):
    import torch

    loader = torch.utils.data.DataLoader(FolderDataset(data, setting == "augment"), batch_size=BATCH, shuffle=True,
                                         num_workers=2, persistent_workers=True)

    def epoch():
        n = 0
        for x, _ in loader:
            n += len(x)
        return n
    return epoch, epochs


#: Cached epochs take about 0.06 s here: a cnnkit-cache run reads at least this many, so its median is not two
#: 60 ms windows at the mercy of one scheduler hiccup.
CACHED_EPOCHS = 12


def worker(config, setting, data, epochs):
    if config == "cnnkit-cache":
        epochs = max(epochs, CACHED_EPOCHS)
    runner = {"cnnkit": run_cnnkit, "cnnkit-cache": lambda d, s, e: run_cnnkit(d, s, e, cache=True),
              "keras-idg": run_keras_idg, "keras-tfdata": run_keras_tfdata, "torch-loader": run_torch_loader}[config]
    epoch, epochs = runner(data, setting, epochs)
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        n = epoch()
        rates.append(n / (time.perf_counter() - start))
    print(json.dumps({"rate": statistics.median(rates[1:]) if len(rates) > 1 else rates[0], "all": rates}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="folder for the generated JPEGs (default: a temporary one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is not counted")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "SETTING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.data, args.epochs)
        return
    data = args.data or os.path.join(tempfile.mkdtemp(prefix="cnnkit-bench-"), "images")
    if not os.path.isdir(data):
        make_folder(data)
    configs, settings = args.configs.split(","), args.settings.split(",")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    results = {(c, s): [] for c in configs for s in settings}
    by_round = {}  # (config, setting, round) -> images/s
    runs = [(c, s) for s in settings for c in configs]
    for r in range(args.rounds):
        for config, setting in runs[r % len(runs):] + runs[:r % len(runs)]:
            out = subprocess.run([sys.executable, __file__, "--worker", config, setting, "--data", data,
                                  "--epochs", str(args.epochs)], capture_output=True, text=True, env=env)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if out.returncode or not line:
                print(f"{config}/{setting} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            results[(config, setting)].append(json.loads(line[-1])["rate"])
            by_round[(config, setting, r)] = results[(config, setting)][-1]
            print(f"round {r + 1}: {config:13s} {setting:8s} {results[(config, setting)][-1]:9.0f} images/s",
                  flush=True)
    print(f"\n{CLASSES * PER_CLASS} JPEGs, target {TARGET[0]}x{TARGET[1]}, batch {BATCH}; medians of {args.rounds} "
          "rounds (images/s)\n")
    print(f"{'configuration':15s}" + "".join(f"{s:>12s}" for s in settings))
    median = {k: statistics.median(v) for k, v in results.items() if v}
    for config in configs:
        print(f"{config:15s}" + "".join(f"{median.get((config, s), float('nan')):12.0f}" for s in settings))
    print("\nratios (cnnkit / other; cnnkit-cache / other for the cached line)")
    for mine in ("cnnkit", "cnnkit-cache"):
        for other in (c for c in configs if not c.startswith("cnnkit")):
            cells = "".join(f"{median[(mine, s)] / median[(other, s)]:11.2f}x" if (mine, s) in median
                            and (other, s) in median else f"{'-':>12s}" for s in settings)
            print(f"{mine + ' / ' + other:30s}{cells}")
    print("\npaired: the ratio within each round (runs a minute apart, so slow drifts of the shared machine cancel), "
          "then their median")
    for mine in ("cnnkit", "cnnkit-cache"):
        for other in (c for c in configs if not c.startswith("cnnkit")):
            for s in settings:
                pairs = [by_round[(mine, s, r)] / by_round[(other, s, r)] for r in range(args.rounds)
                         if (mine, s, r) in by_round and (other, s, r) in by_round]
                if pairs:
                    print(f"{mine + ' / ' + other:30s}{s:>8s}  median {statistics.median(pairs):6.2f}x   rounds "
                          + ", ".join(f"{p:.2f}x" for p in pairs))
                    print(f"RATIO {s} {mine}/{other} {statistics.median(pairs):.4f}")


if __name__ == "__main__":
    main()
