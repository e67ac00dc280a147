"""Ready-made architectures (`cnnkit.applications` mirrors `keras.applications`).

Each builder is registered once in `APPLICATIONS` (see `cnnkit.applications.registry`) with its preprocessing,
input sizes and Grad-CAM layer; the command line and the report read those entries. A new family adds its module
imports below and one row per builder to `_IMAGENET`.
"""

from cnnkit.applications import convnext as convnext
from cnnkit.applications import densenet as densenet
from cnnkit.applications import efficientnet as efficientnet
from cnnkit.applications import efficientnet_v2 as efficientnet_v2
from cnnkit.applications import imagenet_utils as imagenet_utils
from cnnkit.applications import inception_resnet_v2 as inception_resnet_v2
from cnnkit.applications import inception_v3 as inception_v3
from cnnkit.applications import mobilenet as mobilenet
from cnnkit.applications import mobilenet_v2 as mobilenet_v2
from cnnkit.applications import mobilenet_v3 as mobilenet_v3
from cnnkit.applications import nasnet as nasnet
from cnnkit.applications import resnet as resnet
from cnnkit.applications import resnet_v2 as resnet_v2
from cnnkit.applications import vgg16 as vgg16
from cnnkit.applications import vgg19 as vgg19
from cnnkit.applications import xception as xception
from cnnkit.applications.convnext import ConvNeXtBase as ConvNeXtBase
from cnnkit.applications.convnext import ConvNeXtLarge as ConvNeXtLarge
from cnnkit.applications.convnext import ConvNeXtSmall as ConvNeXtSmall
from cnnkit.applications.convnext import ConvNeXtTiny as ConvNeXtTiny
from cnnkit.applications.convnext import ConvNeXtXLarge as ConvNeXtXLarge
from cnnkit.applications.densenet import DenseNet121 as DenseNet121
from cnnkit.applications.densenet import DenseNet169 as DenseNet169
from cnnkit.applications.densenet import DenseNet201 as DenseNet201
from cnnkit.applications.efficientnet import EfficientNetB0 as EfficientNetB0
from cnnkit.applications.efficientnet import EfficientNetB1 as EfficientNetB1
from cnnkit.applications.efficientnet import EfficientNetB2 as EfficientNetB2
from cnnkit.applications.efficientnet import EfficientNetB3 as EfficientNetB3
from cnnkit.applications.efficientnet import EfficientNetB4 as EfficientNetB4
from cnnkit.applications.efficientnet import EfficientNetB5 as EfficientNetB5
from cnnkit.applications.efficientnet import EfficientNetB6 as EfficientNetB6
from cnnkit.applications.efficientnet import EfficientNetB7 as EfficientNetB7
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B0 as EfficientNetV2B0
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B1 as EfficientNetV2B1
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B2 as EfficientNetV2B2
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B3 as EfficientNetV2B3
from cnnkit.applications.efficientnet_v2 import EfficientNetV2L as EfficientNetV2L
from cnnkit.applications.efficientnet_v2 import EfficientNetV2M as EfficientNetV2M
from cnnkit.applications.efficientnet_v2 import EfficientNetV2S as EfficientNetV2S
from cnnkit.applications.imagenet_utils import decode_predictions as decode_predictions
from cnnkit.applications.inception_resnet_v2 import InceptionResNetV2 as InceptionResNetV2
from cnnkit.applications.inception_v3 import InceptionV3 as InceptionV3
from cnnkit.applications.lenet import LeNet as LeNet
from cnnkit.applications.mobilenet import MobileNet as MobileNet
from cnnkit.applications.mobilenet_v2 import MobileNetV2 as MobileNetV2
from cnnkit.applications.mobilenet_v3 import MobileNetV3Large as MobileNetV3Large
from cnnkit.applications.mobilenet_v3 import MobileNetV3Small as MobileNetV3Small
from cnnkit.applications.nasnet import NASNetLarge as NASNetLarge
from cnnkit.applications.nasnet import NASNetMobile as NASNetMobile
from cnnkit.applications.registry import APPLICATIONS as APPLICATIONS
from cnnkit.applications.registry import Application as Application
from cnnkit.applications.registry import register
from cnnkit.applications.resnet import ResNet101 as ResNet101
from cnnkit.applications.resnet import ResNet152 as ResNet152
from cnnkit.applications.resnet import ResNet50 as ResNet50
from cnnkit.applications.resnet import preprocess_input as preprocess_input
from cnnkit.applications.resnet_v2 import ResNet101V2 as ResNet101V2
from cnnkit.applications.resnet_v2 import ResNet152V2 as ResNet152V2
from cnnkit.applications.resnet_v2 import ResNet50V2 as ResNet50V2
from cnnkit.applications.small import SmallConvNet as SmallConvNet
from cnnkit.applications.vgg16 import VGG16 as VGG16
from cnnkit.applications.vgg19 import VGG19 as VGG19
from cnnkit.applications.xception import Xception as Xception

register(Application("LeNet", LeNet, "rescale", default_size=28, min_size=12, last_conv="conv2", pretrained=False))
register(Application("Small", SmallConvNet, "rescale", default_size=28, min_size=8, last_conv=None,
                     pretrained=False))

# ImageNet architectures: (builder, preprocess_input's mode, default input size, minimum input size, Grad-CAM layer:
# the last layer with spatial maps). 'none': the model preprocesses inside (include_preprocessing).
_IMAGENET = [
    *((b, "caffe", 224, 32, "conv5_block3_out") for b in (ResNet50, ResNet101, ResNet152)),
    *((b, "tf", 224, 32, "post_relu") for b in (ResNet50V2, ResNet101V2, ResNet152V2)),
    (VGG16, "caffe", 224, 32, "block5_conv3"),
    (VGG19, "caffe", 224, 32, "block5_conv4"),
    *((b, "torch", 224, 32, "relu") for b in (DenseNet121, DenseNet169, DenseNet201)),
    (Xception, "tf", 299, 71, "block14_sepconv2_act"),
    (InceptionV3, "tf", 299, 75, "mixed10"),
    (InceptionResNetV2, "tf", 299, 75, "conv_7b_ac"),
    # NASNet: the last cell's output (the final relu after it is Keras's unnamed 'activation_N', N varying).
    (NASNetMobile, "tf", 224, 32, "normal_concat_12"),
    (NASNetLarge, "tf", 331, 32, "normal_concat_18"),
    (MobileNet, "tf", 224, 32, "conv_pw_13_relu"),
    (MobileNetV2, "tf", 224, 32, "out_relu"),
    # MobileNetV3: the last activation has a session-dependent default name (activation_N): its conv_1_bn input.
    (MobileNetV3Small, "none", 224, 32, "conv_1_bn"),
    (MobileNetV3Large, "none", 224, 32, "conv_1_bn"),
    *((getattr(efficientnet, f"EfficientNet{v.upper()}"), "none", size, 32, "top_activation")
      for v, (_, _, size, _) in efficientnet.VARIANTS.items()),
    *((getattr(efficientnet_v2, f"EfficientNetV2{v}"), "none", size, 32, "top_activation")
      for v, (_, _, _, size) in efficientnet_v2.VARIANTS.items()),
    # ConvNeXt: the last block's residual sum is an operation, not a layer: its branch's _identity layer.
    *((b, "none", 224, 32, f"convnext_{b.__name__[8:].lower()}_stage_3_block_2_identity")
      for b in (ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge)),
]
for _builder, _mode, _size, _min, _last in _IMAGENET:
    register(Application(_builder.__name__, _builder, _mode, default_size=_size, min_size=_min, last_conv=_last))

__all__ = ["APPLICATIONS", "Application", "LeNet", "SmallConvNet", "decode_predictions", "preprocess_input",
           *sorted({_b.__name__ for _b, *_ in _IMAGENET}),
           "convnext", "densenet", "efficientnet", "efficientnet_v2", "imagenet_utils", "inception_resnet_v2",
           "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3", "nasnet", "resnet", "resnet_v2", "vgg16",
           "vgg19", "xception"]
