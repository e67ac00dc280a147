"""LeNet as built in the seeds: 5x5 convolutions (6 and 16 filters), 2x2 average pooling, tanh, dense 120-84."""

from cnnkit.layers import AveragePooling2D
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import Input
from cnnkit.models import Model


def LeNet(input_shape=(28, 28, 1), classes=10, classifier_activation="softmax", name="lenet"):
    """The seeds' LeNet-5 as a functional model with readable layer names.

    Args:
        input_shape: (height, width, channels), default (28, 28, 1) (MNIST).
        classes: output units (default 10).
        classifier_activation: activation of the last layer (default 'softmax'; None for logits).
        name: model name.

    Returns:
        A `Model` with layers input, conv1, pool1, conv2, pool2, flatten, fc1, fc2, predictions
        (61,706 parameters for the defaults, as the seeds' Sequential version).

    Example:
        >>> LeNet().output_shape
        (None, 10)
    """
    inputs = Input(shape=input_shape, name="input")
    x = Conv2D(6, (5, 5), padding="same", activation="tanh", name="conv1")(inputs)
    x = AveragePooling2D(pool_size=(2, 2), name="pool1")(x)
    x = Conv2D(16, (5, 5), padding="valid", activation="tanh", name="conv2")(x)
    x = AveragePooling2D(pool_size=(2, 2), name="pool2")(x)
    x = Flatten(name="flatten")(x)
    x = Dense(120, activation="tanh", name="fc1")(x)
    x = Dense(84, activation="tanh", name="fc2")(x)
    outputs = Dense(classes, activation=classifier_activation, name="predictions")(x)
    return Model(inputs, outputs, name=name)
