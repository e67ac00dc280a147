"""Datasets (`cnnkit.datasets` mirrors `keras.datasets`): `mnist_5k` works offline."""

from cnnkit.datasets import mnist_5k as mnist_5k
