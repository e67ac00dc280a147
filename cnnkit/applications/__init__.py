"""Ready-made architectures (`cnnkit.applications` mirrors `keras.applications`)."""

from cnnkit.applications.lenet import LeNet as LeNet
from cnnkit.applications.small import SmallConvNet as SmallConvNet
from cnnkit.registry import Registry

APPLICATIONS = Registry("application")
APPLICATIONS.register("lenet", LeNet)
APPLICATIONS.register("small", SmallConvNet)
