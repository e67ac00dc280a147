"""The seeds' training code (compile / fit / evaluate / callbacks), run with only the module name changed to cnnkit.

Each code block below is copied from /work/shared/seeds (the file is named in the comment above it); `to_cnnkit`
(from test_seeds.py) changes tensorflow.keras / tf.keras / keras to cnnkit. The downloads are replaced by small
data: MNIST by a subsample of `cnnkit.datasets.mnist_5k.load_data()` (real digits, offline), CIFAR-10 by random
arrays of the same layout. Where the notes' own code does not run in Keras either (placeholders, misspelt names),
the comment says what was filled in. Blocks without a `verbose` argument run as written; their output is captured.
"""

import os

import numpy as np
import pytest

import cnnkit
from cnnkit.datasets import mnist_5k

from test_seeds import SEED_000_LENET, SEED_002_CLASSIFIER, SEED_002_CONVNET, SEED_003_CIFAR, SEED_004_DENSE
from test_seeds import SEED_004_DROPOUT_BN, run

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


@pytest.fixture(autouse=True)
def _seeded():
    cnnkit.utils.set_random_seed(0)  # fixed initial weights and shuffling: the accuracy thresholds are stable


@pytest.fixture(scope="module")
def digits():
    """Real MNIST digits: ((x_train, y_train), (x_test, y_test)), uint8, 4000 / 1000."""
    return mnist_5k.load_data()


def subsample(x, y, n, classes=None):
    keep = np.arange(len(y)) if classes is None else np.flatnonzero(np.isin(y, classes))
    keep = keep[:n]
    return x[keep], y[keep]


# ---- seed 000: LeNet with SGD, then with Adam(lr=0.01) ------------------------------------------------------

# 000_1b579fb7c50ef3cf.txt, "LeNet Architecture": the compile line the model-definition test leaves out.
SEED_000_COMPILE = """
model.compile(loss='sparse_categorical_crossentropy', optimizer='sgd', metrics=['acc'])
"""

# 000_1b579fb7c50ef3cf.txt, "The Adam Algorithm" (the two blocks; the notes' trailing prose after `metrics=['acc'])`
# is dropped, and `Adam(lr=0.01)` is the block that follows).
SEED_000_ADAM = """
from tensorflow.keras.optimizers import Adam
optimizer = Adam()

model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy',
              metrics=['acc'])
"""
SEED_000_ADAM_LR = """
optimizer = Adam(lr=0.01)
"""


def _lenet_data(digits, n_train=1000, n_test=500):
    (x_train, y_train), (x_test, y_test) = digits
    x_train, y_train = subsample(x_train, y_train, n_train)
    x_test, y_test = subsample(x_test, y_test, n_test)
    prep = lambda x: (x.astype("float32") / 255)[..., None]  # noqa: E731
    return prep(x_train), y_train, prep(x_test), y_test


def test_seed_000_lenet_sgd_fit(digits, capsys):
    ns = run(SEED_000_LENET)
    run(SEED_000_COMPILE, **ns)
    capsys.readouterr()
    model = ns["model"]
    x_train, y_train, x_test, y_test = _lenet_data(digits)
    history = model.fit(x_train, y_train, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "acc"}
    assert len(history.history["loss"]) == len(history.history["acc"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.3, acc  # chance is 0.1; plain SGD (lr 0.01) on 1000 digits for 3 epochs is slow
    # The reported accuracy is the share of argmax hits, the loss the mean cross-entropy, on the same weights.
    probs = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == y_test), atol=1e-6)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(len(y_test)), y_test])), rtol=1e-4)


def test_seed_000_adam_with_lr(digits, capsys):
    ns = run(SEED_000_LENET)
    ns = run(SEED_000_ADAM, **ns)
    assert ns["model"].optimizer is ns["optimizer"]
    assert float(ns["optimizer"].learning_rate) == pytest.approx(0.001)  # "The default learning rate is 0.001"
    ns = run(SEED_000_ADAM_LR, **ns)
    assert float(ns["optimizer"].learning_rate) == pytest.approx(0.01)
    model = ns["model"]
    model.compile(optimizer=ns["optimizer"], loss='sparse_categorical_crossentropy', metrics=['acc'])
    capsys.readouterr()
    assert model.optimizer is ns["optimizer"]
    x_train, y_train, x_test, y_test = _lenet_data(digits)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x_train, y_train, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "acc"}
    assert not any(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.6, acc


# ---- seed 002: the MNIST convnet with to_categorical, rmsprop --------------------------------------------------

# 002_0fffaacaee0c572d.txt, "Training the convnet on MNIST images" and "Evaluate on the test data" (the
# `mnist.load_data()` line is replaced by the subsample passed in; 2000 / 500 images instead of 60000 / 10000,
# so the reshape sizes change with them; epochs=5 -> 2).
SEED_002_TRAINING = """
from keras.utils import to_categorical

train_images = train_images.reshape((2000,28,28,1))
train_images = train_images.astype('float32') / 255

test_images = test_images.reshape((500,28,28,1))
test_images = test_images.astype('float32') / 255

train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)

model.compile(optimizer='rmsprop',loss='categorical_crossentropy', metrics=['accuracy'])

model.fit(x=train_images, y=train_labels, batch_size=64,epochs=2)

test_loss, test_acc = model.evaluate(x=test_images, y=test_labels)
"""


def test_seed_002_convnet_learns_mnist(digits, capsys):
    (x_train, y_train), (x_test, y_test) = digits
    train_images, train_labels = subsample(x_train, y_train, 2000)
    test_images, test_labels = subsample(x_test, y_test, 500)
    ns = run(SEED_002_CONVNET)
    ns = run(SEED_002_CLASSIFIER, **ns)
    capsys.readouterr()
    ns = run(SEED_002_TRAINING, train_images=train_images, train_labels=train_labels, test_images=test_images,
             test_labels=test_labels, **{k: v for k, v in ns.items() if k not in ("np", "__builtins__")})
    printed = capsys.readouterr().out
    assert "Epoch 1/2" in printed and "Epoch 2/2" in printed  # verbose='auto' as in the notes
    assert ns["train_labels"].shape == (2000, 10) and ns["test_labels"].shape == (500, 10)
    test_loss, test_acc = ns["test_loss"], ns["test_acc"]
    assert isinstance(test_loss, float) and isinstance(test_acc, float)
    assert test_acc > 0.75, test_acc  # chance is 0.1
    assert test_loss < 0.8, test_loss
    probs = ns["model"].predict(ns["test_images"], verbose=0)
    np.testing.assert_allclose(test_acc, np.mean(probs.argmax(1) == test_labels), atol=1e-6)


# ---- seed 003: the CIFAR-10 functional model with validation_data -----------------------------------------------

# 003_c0f95dda8a25f66c.txt, "Load the data and normalize them" (after the download), then the compile, fit,
# plotting and evaluation blocks (epochs=5 -> 2; matplotlib runs on the Agg backend, `plt.show()` is not in
# these blocks).
SEED_003_TRAINING = """
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

# Normalize pixel values to be between 0 and 1
train_images = train_images / 255.0
test_images = test_images / 255.0

model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

history = model.fit(train_images, train_labels, epochs=2,
                    validation_data=(test_images, test_labels))

plt.plot(history.history['accuracy'], label='accuracy')
plt.plot(history.history['val_accuracy'], label = 'val_accuracy')
plt.xlabel('Epoch')
plt.ylabel('accuracy')
plt.legend(loc='lower right')

plt.plot(history.history['loss'], label='loss')
plt.plot(history.history['val_loss'], label = 'val_loss')
plt.xlabel('Epoch')
plt.ylabel('loss')
plt.legend(loc='lower right')

result = model.evaluate(test_images,  test_labels)
print(f'accuracy: {result[1]*100:.2f}%')
"""


def test_seed_003_cifar_fit_with_validation_data(capsys, rng):
    pytest.importorskip("matplotlib")
    # CIFAR-10 layout: uint8 (n, 32, 32, 3) images, uint8 (n, 1) labels.
    train_images = rng.integers(0, 256, size=(256, 32, 32, 3)).astype(np.uint8)
    train_labels = rng.integers(0, 10, size=(256, 1)).astype(np.uint8)
    test_images = rng.integers(0, 256, size=(64, 32, 32, 3)).astype(np.uint8)
    test_labels = rng.integers(0, 10, size=(64, 1)).astype(np.uint8)
    ns = run(SEED_003_CIFAR)
    capsys.readouterr()
    ns = run(SEED_003_TRAINING, train_images=train_images, train_labels=train_labels, test_images=test_images,
             test_labels=test_labels, **{k: v for k, v in ns.items() if k not in ("np", "__builtins__")})
    printed = capsys.readouterr().out
    import matplotlib.pyplot as plt  # noqa: PLC0415
    plt.close("all")
    history = ns["history"].history
    assert set(history) == {"accuracy", "val_accuracy", "loss", "val_loss"}
    assert all(len(values) == 2 for values in history.values())
    assert all(np.isfinite(v) for values in history.values() for v in values)
    result = ns["result"]
    assert len(result) == 2
    # The last epoch's validation numbers come from the final weights: evaluate gives them again.
    np.testing.assert_allclose(result[0], history["val_loss"][-1], rtol=1e-4)
    np.testing.assert_allclose(result[1], history["val_accuracy"][-1], atol=1e-6)
    assert f"accuracy: {result[1]*100:.2f}%" in printed
    assert "Epoch 1/2" in printed and "val_loss" in printed
    probs = ns["model"].predict(ns["test_images"], verbose=0)
    np.testing.assert_allclose(result[1], np.mean(probs.argmax(1) == test_labels[:, 0]), atol=1e-6)


# ---- seed 004: Dense classifier, typos, ModelCheckpoint, Dropout + BatchNormalization ---------------------------

# 004_1640f47f8f2e0172.txt, "Classification with Keras": compile, fit and evaluate (the notes fit on
# `training_data, training_labels`, names they never define: read as the `train_data` built just above and its
# labels).
SEED_004_FIT = """
# Compile the model
model.compile(
	optimizer='adam',
	loss='categorical_crossentropy',
	metrics=['accuracy']
)

model.fit(
	train_data,
	train_labels,
	validation_split=0.2,
	epochs=3
)

# Evaluate the model
model.evaluate(
	x=test_data,
	y=test_labels,
	batch_size=128
)
"""

# 004_1640f47f8f2e0172.txt, "Fitting the CNN" (with its typos `n_split`, `epoch`).
SEED_004_FIT_TYPOS = """
model.fit(
	     train_data, train_labels,
		 validation_split=0.2,
		 n_split=0.2,
		 batch_size=10,
		 epoch=3)
"""

# 004_1640f47f8f2e0172.txt, "Learning Curves" (with its typo `validations_split`; the plotting is left out).
SEED_004_LEARNING_CURVES = """
training = model.fit(
	train_data, train_labels, epochs=3,
	validations_split=0.2
)
"""

# 004_1640f47f8f2e0172.txt, "Storing the optimal parameters" (the notes' `modelCheckpoint` and `train_labes` are
# misspelt: read as ModelCheckpoint and train_labels) and "Loading stored weights". The fit is split from the
# callback list so the test can add a recorder of each epoch's weights behind the checkpoint.
SEED_004_CHECKPOINT = """
from keras.callbacks import ModelCheckpoint

# This checkpoint will store the model parameters in a file
checkpoint = ModelCheckpoint(
	'weights_file.hdf5',
	monitor='val_loss',
	save_best_only=True
)

# Store in a list to use it during training
callbacks_list = [checkpoint]
"""
SEED_004_CHECKPOINT_FIT = """
# Fit the model and use the callback
model.fit(
		train_data, train_labels,
		validation_split=0.2,
		epochs=3,
		callbacks=callbacks_list
)
"""
SEED_004_LOAD = """
model.load_weights('weights_file.hdf5')
"""


def _dense_namespace(digits, n_train=50, n_test=60):
    """SEED_004_DENSE on 50 real digits of classes 0-2 (its `reshape((50, 784))`), one-hot labels."""
    (x_train, y_train), (x_test, y_test) = digits
    train_images, train_labels = subsample(x_train, y_train, n_train, classes=[0, 1, 2])
    test_images, test_labels = subsample(x_test, y_test, n_test, classes=[0, 1, 2])
    ns = run(SEED_004_DENSE, train_images=train_images.astype("float32") / 255)
    ns["train_labels"] = cnnkit.utils.to_categorical(train_labels, 3)
    ns["test_data"] = (test_images.astype("float32") / 255).reshape((n_test, 784))
    ns["test_labels"] = cnnkit.utils.to_categorical(test_labels, 3)
    return {k: v for k, v in ns.items() if k not in ("np", "__builtins__")}


def test_seed_004_dense_fit_validation_split_evaluate(digits, capsys):
    ns = _dense_namespace(digits)
    ns = run(SEED_004_FIT, **ns)
    printed = capsys.readouterr().out
    assert "Epoch 3/3" in printed and "val_loss" in printed
    model = ns["model"]
    history = model.history.history
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.values())
    # The seed's evaluate call returns [loss, accuracy]: check them against the predictions.
    loss, acc = model.evaluate(x=ns["test_data"], y=ns["test_labels"], batch_size=128, verbose=0)
    probs = model.predict(ns["test_data"], verbose=0)
    truth = ns["test_labels"].argmax(1)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == truth), atol=1e-6)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(len(truth)), truth])), rtol=1e-4)
    # validation_split=0.2 of 50 -> trains on the first 40 samples (Keras takes the last 20% for validation).
    tail = model.evaluate(ns["train_data"][40:], ns["train_labels"][40:], verbose=0)
    np.testing.assert_allclose(tail[0], history["val_loss"][-1], rtol=1e-4)


def test_seed_004_fit_typos_are_reported(digits):
    ns = _dense_namespace(digits)
    ns["model"].compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    before = [w.copy() for w in ns["model"].get_weights()]
    with pytest.raises(TypeError, match="Did you mean 'epochs'") as caught:
        run(SEED_004_FIT_TYPOS, **ns)
    assert "n_split" in str(caught.value)
    with pytest.raises(TypeError, match="Did you mean 'validation_split'") as caught:
        run(SEED_004_LEARNING_CURVES, **ns)
    assert "validations_split" in str(caught.value)
    # The error comes before any training.
    for a, b in zip(before, ns["model"].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_seed_004_model_checkpoint_and_load_weights(digits, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _dense_namespace(digits)
    ns["model"].compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    ns = run(SEED_004_CHECKPOINT, **ns)
    per_epoch = []
    ns["callbacks_list"].append(cnnkit.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: per_epoch.append((logs["val_loss"], ns["model"].get_weights()))))
    ns = run(SEED_004_CHECKPOINT_FIT, **{k: v for k, v in ns.items() if k not in ("np", "__builtins__")})
    capsys.readouterr()
    assert os.path.isfile(tmp_path / "weights_file.hdf5")
    assert len(per_epoch) == 3
    best = int(np.argmin([val_loss for val_loss, _ in per_epoch]))
    model = ns["model"]
    # Scramble the weights so load_weights has something to restore.
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    run(SEED_004_LOAD, **{k: v for k, v in ns.items() if k not in ("np", "__builtins__")})
    for got, want in zip(model.get_weights(), per_epoch[best][1]):
        np.testing.assert_array_equal(got, want)
    # A fresh model of the same architecture ("Instantiate a model with the same architecture") loads it too.
    fresh = _dense_namespace(digits)
    run(SEED_004_LOAD, **fresh)
    for got, want in zip(fresh["model"].get_weights(), per_epoch[best][1]):
        np.testing.assert_array_equal(got, want)


def test_seed_004_dropout_batchnorm_trained(digits, capsys):
    (x_train, y_train), (x_test, y_test) = digits
    x_train, y_train = subsample(x_train, y_train, 300)
    x_test, y_test = subsample(x_test, y_test, 100)
    ns = run(SEED_004_DROPOUT_BN, x=28, y=28)
    model = ns["model"]
    # A classifier on top so the model can be trained (not in the notes).
    model.add(cnnkit.layers.Flatten())
    model.add(cnnkit.layers.Dense(10, activation='softmax'))
    bn = model.layers[2]
    assert type(bn).__name__ == "BatchNormalization"
    mean0, var0 = (w.copy() for w in bn.get_weights()[2:])
    np.testing.assert_array_equal(mean0, 0)
    np.testing.assert_array_equal(var0, 1)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    x_train = (x_train.astype('float32') / 255)[..., None]
    x_test = (x_test.astype('float32') / 255)[..., None]
    history = model.fit(x_train, cnnkit.utils.to_categorical(y_train, 10), batch_size=32, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    mean1, var1 = bn.get_weights()[2:]
    assert not np.allclose(mean1, mean0) and not np.allclose(var1, var0)
    assert np.all(mean1 > 0)  # relu outputs: the moving mean moves up from 0
    first = model.predict(x_test, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x_test, verbose=0))  # no dropout at inference
    np.testing.assert_array_equal(bn.get_weights()[2], mean1)  # predict leaves the moving statistics alone
    _, acc = model.evaluate(x_test, cnnkit.utils.to_categorical(y_test, 10), verbose=0)
    assert acc > 0.35, acc  # chance is 0.1
    # Training mode applies dropout: two calls differ.
    import torch  # noqa: PLC0415
    x = torch.as_tensor(x_test[:8])
    with torch.no_grad():
        a, b = model(x, training=True), model(x, training=True)
    assert not np.allclose(np.asarray(a), np.asarray(b))
