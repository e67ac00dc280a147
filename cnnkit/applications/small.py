"""A small MNIST convnet: conv 32/64/64 (3x3, relu) with 2x2 max pooling, dense 64, softmax."""

from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import MaxPooling2D
from cnnkit.models import Sequential


def SmallConvNet(input_shape=(28, 28, 1), classes=10, classifier_activation="softmax", name="small_convnet"):
    """The classic small MNIST convnet (93,322 parameters for 28x28x1 inputs and 10 classes).

    Args:
        input_shape: (height, width, channels); at least 22x22 so three 3x3 convolutions and two poolings fit.
        classes: output units.
        classifier_activation: default 'softmax'.
        name: model name.

    Returns:
        A `Sequential` model.

    Example:
        >>> SmallConvNet().count_params()
        93322
    """
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=input_shape),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(classes, activation=classifier_activation),
    ], name=name)
