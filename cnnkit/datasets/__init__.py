"""Datasets (`cnnkit.datasets` mirrors `keras.datasets`): `mnist_5k` works offline; the others download once.

`mnist`, `fashion_mnist`, `cifar10` and `cifar100` read the official files from cnnkit's cache
(`$CNNKIT_HOME/datasets`, default `~/.cnnkit/datasets`) or Keras's (`~/.keras/datasets`), or download them into
cnnkit's cache. Offline, a missing file raises `DatasetDownloadError` (an `OSError`) naming the file, its URL and
the folder to put it in.
"""

from cnnkit.datasets import cifar10 as cifar10
from cnnkit.datasets import cifar100 as cifar100
from cnnkit.datasets import fashion_mnist as fashion_mnist
from cnnkit.datasets import mnist as mnist
from cnnkit.datasets import mnist_5k as mnist_5k
from cnnkit.datasets._files import DatasetDownloadError as DatasetDownloadError
from cnnkit.datasets._files import DatasetHashError as DatasetHashError
from cnnkit.datasets._files import cache_dir as cache_dir
