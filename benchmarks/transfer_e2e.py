"""`transfer.py --tasks e2e`: the notes' frozen-backbone recipe end to end, from the same script text.

The script (SCRIPT below) is the notes' block: ImageDataGenerator(validation_split=0.25, rescale=1./255) with
`flow_from_directory` (150x150, batch 16, class_mode='sparse', subsets 'training' and 'validation', seed 54321),
ResNet50(input_shape=(150, 150, 3), include_top=False) with `backbone.trainable = False`, GlobalAveragePooling2D,
Dense(12, softmax), compiled with adam and sparse categorical cross-entropy, `fit(train_flow,
validation_data=val_flow, steps_per_epoch=len(train_flow), validation_steps=len(val_flow), epochs=...)`. One
difference from the notes, the same for both: `weights=None` instead of 'imagenet', so that nothing downloads (the
weights' values change neither framework's work). The Keras run imports from `tensorflow.keras` (Keras 3 on
TensorFlow), the cnnkit run is the same text with the module name `tensorflow.keras` replaced by `cnnkit`, and
fit runs with cnnkit's defaults (so `cache_frozen='auto'`).

The image folder is generated once per benchmark run in a temporary folder (seeded): `--e2e-images` JPEGs at
150x150 in 12 class folders. Each run of the script is its own process (the two frameworks alternate, the order
rotated every round); it reports the model building time and the end-to-end time from building the iterators to
the end of fit (first epoch, with its tracing and feature caching, included).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

CLASSES, SIZE = 12, 150
CACHING_LINE = "fit: caching the frozen part's output"

SCRIPT = '''\
import json
import time

from tensorflow.keras.preprocessing.image import ImageDataGenerator
from tensorflow.keras.applications.resnet import ResNet50
from tensorflow.keras.layers import GlobalAveragePooling2D, Dense
from tensorflow.keras.models import Sequential
from tensorflow.keras.callbacks import Callback

FOLDER, EPOCHS, VALIDATION_SPLIT = {folder!r}, {epochs}, {validation_split}


class EpochEnds(Callback):
    def __init__(self):
        super().__init__()
        self.ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


start = time.perf_counter()
backbone = ResNet50(input_shape=(150, 150, 3),
                    weights=None,  # the notes load 'imagenet'; None so that nothing downloads
                    include_top=False)
backbone.trainable = False
model = Sequential()
model.add(backbone)
model.add(GlobalAveragePooling2D())
model.add(Dense(12, activation='softmax'))
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['acc'])
built = time.perf_counter()

epoch_ends = EpochEnds()
if VALIDATION_SPLIT:
    datagen = ImageDataGenerator(validation_split=VALIDATION_SPLIT, rescale=1./255)
    train_datagen_flow = datagen.flow_from_directory(
        FOLDER, target_size=(150, 150), batch_size=16, class_mode='sparse', subset='training', seed=54321)
    val_datagen_flow = datagen.flow_from_directory(
        FOLDER, target_size=(150, 150), batch_size=16, class_mode='sparse', subset='validation', seed=54321)
    model.fit(train_datagen_flow,
              validation_data=val_datagen_flow,
              steps_per_epoch=len(train_datagen_flow),
              validation_steps=len(val_datagen_flow),
              epochs=EPOCHS, verbose=2, callbacks=[epoch_ends])
else:
    datagen = ImageDataGenerator(rescale=1./255)
    datagen_flow = datagen.flow_from_directory(
        FOLDER, target_size=(150, 150), batch_size=16, class_mode='sparse', seed=54321)
    model.fit(datagen_flow, steps_per_epoch=len(datagen_flow), epochs=EPOCHS, verbose=2, callbacks=[epoch_ends])
done = time.perf_counter()
print('E2E ' + json.dumps({{'build': built - start, 'e2e': done - built, 'first': epoch_ends.ends[0] - built,
                           'later': [b - a for a, b in zip(epoch_ends.ends, epoch_ends.ends[1:])]}}))
'''


def script_text(framework, folder, epochs, validation_split):
    """The script for `framework` ('keras' or 'cnnkit'): one text, the module name replaced for cnnkit."""
    text = SCRIPT.format(folder=folder, epochs=epochs, validation_split=validation_split)
    return text.replace("tensorflow.keras", "cnnkit") if framework == "cnnkit" else text


def make_folder(root, images, seed=0):
    """`images` seeded JPEGs (150x150, smooth colour fields with noise, roughly a photo's JPEG size) in 12 class
    folders under `root`; returns the folder."""
    from PIL import Image  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "images")
    for c in range(CLASSES):
        os.makedirs(os.path.join(folder, f"class_{c:02d}"), exist_ok=True)
    for i in range(images):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((SIZE, SIZE),
                                                                                         Image.BILINEAR)
        pixels = np.asarray(coarse, np.int16) + rng.integers(-24, 25, (SIZE, SIZE, 3), dtype=np.int16)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"class_{i % CLASSES:02d}", f"{i:05d}.jpg"), quality=90)
    return folder


def run_script(path, framework, repo):
    """Runs one script file in its own process: (its E2E timings, whether cnnkit said it caches, that line)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, path], capture_output=True, text=True, check=False, env=env)
    lines = proc.stdout.splitlines()
    result = [line for line in lines if line.startswith("E2E ")]
    if proc.returncode or not result:
        sys.exit(f"e2e: the {framework} script failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    said = next((line for line in lines if line.startswith("fit: ")), None)
    return json.loads(result[-1][4:]), said


def run(args, repo):
    """The e2e task: generates the folder, alternates the two scripts `args.rounds` times, prints the table and
    `RATIO e2e cnnkit/keras X` (Keras's end-to-end time over cnnkit's, median over rounds)."""
    frameworks = ["cnnkit", "keras"]
    results = {f: [] for f in frameworks}
    with tempfile.TemporaryDirectory(prefix="cnnkit_e2e_") as root:
        folder = make_folder(root, args.e2e_images)
        paths = {}
        for framework in frameworks:
            paths[framework] = os.path.join(root, f"notes_{framework}.py")
            with open(paths[framework], "w") as f:
                f.write(script_text(framework, folder, args.e2e_epochs, args.e2e_validation_split))
        said = None
        for round_index in range(args.rounds):
            order = frameworks if round_index % 2 == 0 else frameworks[::-1]
            for framework in order:
                timings, line = run_script(paths[framework], framework, repo)
                results[framework].append(timings)
                if framework == "cnnkit":
                    said = line
            print(f"e2e round {round_index + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})",
                  flush=True)
    report(args, results, said)


def report(args, results, said):
    val = round(args.e2e_images * args.e2e_validation_split)  # approximately: the split is per class
    print(f"\ne2e: the notes' frozen ResNet50 script, {args.e2e_images} JPEGs 150x150 in {CLASSES} folders "
          f"(validation_split {args.e2e_validation_split}: ~{args.e2e_images - val} training + ~{val} validation), "
          f"{args.e2e_epochs} epochs, batch 16, weights=None; seconds, median of {args.rounds} rounds")
    print(f"{'':8} {'build model':>12} {'iterators + fit':>16} {'first epoch':>12} {'later epochs (each)':>20}")
    for framework, runs in results.items():
        later = [statistics.median(r["later"]) for r in runs if r["later"]]
        print(f"{framework:8} {statistics.median(r['build'] for r in runs):12.1f} "
              f"{statistics.median(r['e2e'] for r in runs):16.1f} {statistics.median(r['first'] for r in runs):12.1f} "
              f"{(statistics.median(later) if later else float('nan')):20.2f}")
    pairs = list(zip(results["cnnkit"], results["keras"]))
    ratios = [k["e2e"] / c["e2e"] for c, k in pairs]
    with_build = [(k["e2e"] + k["build"]) / (c["e2e"] + c["build"]) for c, k in pairs]
    print(f"cnnkit: {said or 'fit printed no caching line: the frozen part was NOT cached'}")
    print(f"cnnkit / keras end to end {statistics.median(ratios):.2f}x (rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); with model building {statistics.median(with_build):.2f}x")
    print(f"RATIO e2e cnnkit/keras {statistics.median(ratios):.4f}")
    if not (said and said.startswith(CACHING_LINE) and "later epochs train only the rest" in said):
        sys.exit("e2e: cnnkit's fit did not cache the frozen part with cache_frozen='auto'")
