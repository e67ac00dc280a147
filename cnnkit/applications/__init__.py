"""Ready-made architectures (`cnnkit.applications` mirrors `keras.applications`)."""

from cnnkit.applications.imagenet_utils import decode_predictions as decode_predictions
from cnnkit.applications.lenet import LeNet as LeNet
from cnnkit.applications.resnet import ResNet50 as ResNet50
from cnnkit.applications.resnet import ResNet101 as ResNet101
from cnnkit.applications.resnet import ResNet152 as ResNet152
from cnnkit.applications.resnet import UNTRAINED as _RESNETS
from cnnkit.applications.resnet import preprocess_input as preprocess_input
from cnnkit.applications.small import SmallConvNet as SmallConvNet
from cnnkit.registry import Registry

APPLICATIONS = Registry("application")
APPLICATIONS.register("lenet", LeNet)
APPLICATIONS.register("small", SmallConvNet)
for _name, _builder in _RESNETS.items():  # weights=None: the registry builds architectures to train
    APPLICATIONS.register(_name, _builder)

__all__ = ["APPLICATIONS", "LeNet", "ResNet50", "ResNet101", "ResNet152", "SmallConvNet", "decode_predictions",
           "preprocess_input"]
