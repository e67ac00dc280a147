"""Ready-made architectures (`cnnkit.applications` mirrors `keras.applications`).

Each builder is registered once in `APPLICATIONS` (see `cnnkit.applications.registry`) with its preprocessing,
input sizes and Grad-CAM layer; the command line and the report read those entries.
"""

from cnnkit.applications import imagenet_utils as imagenet_utils
from cnnkit.applications import resnet as resnet
from cnnkit.applications.imagenet_utils import decode_predictions as decode_predictions
from cnnkit.applications.lenet import LeNet as LeNet
from cnnkit.applications.registry import APPLICATIONS as APPLICATIONS
from cnnkit.applications.registry import Application as Application
from cnnkit.applications.registry import register
from cnnkit.applications.resnet import ResNet50 as ResNet50
from cnnkit.applications.resnet import ResNet101 as ResNet101
from cnnkit.applications.resnet import ResNet152 as ResNet152
from cnnkit.applications.resnet import preprocess_input as preprocess_input
from cnnkit.applications.small import SmallConvNet as SmallConvNet

register(Application("LeNet", LeNet, "rescale", default_size=28, min_size=12, last_conv="conv2", pretrained=False))
register(Application("Small", SmallConvNet, "rescale", default_size=28, min_size=8, last_conv=None,
                     pretrained=False))
# ImageNet families: (builder, preprocessing, default size, min size, last convolutional block).
for _builder, _mode, _size, _min, _last in (
        (ResNet50, "caffe", 224, 32, "conv5_block3_out"),
        (ResNet101, "caffe", 224, 32, "conv5_block3_out"),
        (ResNet152, "caffe", 224, 32, "conv5_block3_out")):
    register(Application(_builder.__name__, _builder, _mode, default_size=_size, min_size=_min, last_conv=_last))

__all__ = ["APPLICATIONS", "Application", "LeNet", "ResNet50", "ResNet101", "ResNet152", "SmallConvNet",
           "decode_predictions", "imagenet_utils", "preprocess_input", "resnet"]

# ---- VGG16, VGG19 (apps-a) ----
from cnnkit.applications import vgg16 as vgg16  # noqa: E402
from cnnkit.applications import vgg19 as vgg19  # noqa: E402
from cnnkit.applications.vgg16 import VGG16 as VGG16  # noqa: E402
from cnnkit.applications.vgg19 import VGG19 as VGG19  # noqa: E402

register(Application("VGG16", VGG16, "caffe", default_size=224, min_size=32, last_conv="block5_conv3"))
register(Application("VGG19", VGG19, "caffe", default_size=224, min_size=32, last_conv="block5_conv4"))
__all__ += ["VGG16", "VGG19", "vgg16", "vgg19"]

# ---- ResNet50V2, ResNet101V2, ResNet152V2 (apps-a) ----
from cnnkit.applications import resnet_v2 as resnet_v2  # noqa: E402
from cnnkit.applications.resnet_v2 import ResNet50V2 as ResNet50V2  # noqa: E402
from cnnkit.applications.resnet_v2 import ResNet101V2 as ResNet101V2  # noqa: E402
from cnnkit.applications.resnet_v2 import ResNet152V2 as ResNet152V2  # noqa: E402

for _builder in (ResNet50V2, ResNet101V2, ResNet152V2):
    register(Application(_builder.__name__, _builder, "tf", default_size=224, min_size=32, last_conv="post_relu"))
__all__ += ["ResNet50V2", "ResNet101V2", "ResNet152V2", "resnet_v2"]

# ---- DenseNet121, DenseNet169, DenseNet201 (apps-a) ----
from cnnkit.applications import densenet as densenet  # noqa: E402
from cnnkit.applications.densenet import DenseNet121 as DenseNet121  # noqa: E402
from cnnkit.applications.densenet import DenseNet169 as DenseNet169  # noqa: E402
from cnnkit.applications.densenet import DenseNet201 as DenseNet201  # noqa: E402

for _builder in (DenseNet121, DenseNet169, DenseNet201):
    register(Application(_builder.__name__, _builder, "torch", default_size=224, min_size=32, last_conv="relu"))
__all__ += ["DenseNet121", "DenseNet169", "DenseNet201", "densenet"]

# ---- Xception (apps-a) ----
from cnnkit.applications import xception as xception  # noqa: E402
from cnnkit.applications.xception import Xception as Xception  # noqa: E402

register(Application("Xception", Xception, "tf", default_size=299, min_size=71, last_conv="block14_sepconv2_act"))
__all__ += ["Xception", "xception"]

# ---- InceptionV3 (apps-a) ----
from cnnkit.applications import inception_v3 as inception_v3  # noqa: E402
from cnnkit.applications.inception_v3 import InceptionV3 as InceptionV3  # noqa: E402

register(Application("InceptionV3", InceptionV3, "tf", default_size=299, min_size=75, last_conv="mixed10"))
__all__ += ["InceptionV3", "inception_v3"]

# ---- InceptionResNetV2 (apps-a) ----
from cnnkit.applications import inception_resnet_v2 as inception_resnet_v2  # noqa: E402
from cnnkit.applications.inception_resnet_v2 import InceptionResNetV2 as InceptionResNetV2  # noqa: E402

register(Application("InceptionResNetV2", InceptionResNetV2, "tf", default_size=299, min_size=75,
                     last_conv="conv_7b_ac"))
__all__ += ["InceptionResNetV2", "inception_resnet_v2"]

# ---- NASNetMobile, NASNetLarge (apps-a) ----
from cnnkit.applications import nasnet as nasnet  # noqa: E402
from cnnkit.applications.nasnet import NASNetLarge as NASNetLarge  # noqa: E402
from cnnkit.applications.nasnet import NASNetMobile as NASNetMobile  # noqa: E402

# last_conv: the last cell's output (the final relu after it is Keras's unnamed 'activation_N', N varying).
register(Application("NASNetMobile", NASNetMobile, "tf", default_size=224, min_size=32, last_conv="normal_concat_12"))
register(Application("NASNetLarge", NASNetLarge, "tf", default_size=331, min_size=32, last_conv="normal_concat_18"))
__all__ += ["NASNetLarge", "NASNetMobile", "nasnet"]

# MobileNet family (apps-b).
from cnnkit.applications import mobilenet as mobilenet  # noqa: E402
from cnnkit.applications import mobilenet_v2 as mobilenet_v2  # noqa: E402
from cnnkit.applications.mobilenet import MobileNet as MobileNet  # noqa: E402
from cnnkit.applications.mobilenet_v2 import MobileNetV2 as MobileNetV2  # noqa: E402

register(Application("MobileNet", MobileNet, "tf", default_size=224, min_size=32, last_conv="conv_pw_13_relu"))
register(Application("MobileNetV2", MobileNetV2, "tf", default_size=224, min_size=32, last_conv="out_relu"))
__all__ += ["MobileNet", "MobileNetV2", "mobilenet", "mobilenet_v2"]

# MobileNetV3 (apps-b).
from cnnkit.applications import mobilenet_v3 as mobilenet_v3  # noqa: E402
from cnnkit.applications.mobilenet_v3 import MobileNetV3Large as MobileNetV3Large  # noqa: E402
from cnnkit.applications.mobilenet_v3 import MobileNetV3Small as MobileNetV3Small  # noqa: E402

# The last activation before the top has a default name (activation_N) that depends on the session: conv_1_bn.
register(Application("MobileNetV3Small", MobileNetV3Small, "none", default_size=224, min_size=32,
                     last_conv="conv_1_bn"))
register(Application("MobileNetV3Large", MobileNetV3Large, "none", default_size=224, min_size=32,
                     last_conv="conv_1_bn"))
__all__ += ["MobileNetV3Large", "MobileNetV3Small", "mobilenet_v3"]

# EfficientNet (apps-b).
from cnnkit.applications import efficientnet as efficientnet  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB0 as EfficientNetB0  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB1 as EfficientNetB1  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB2 as EfficientNetB2  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB3 as EfficientNetB3  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB4 as EfficientNetB4  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB5 as EfficientNetB5  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB6 as EfficientNetB6  # noqa: E402
from cnnkit.applications.efficientnet import EfficientNetB7 as EfficientNetB7  # noqa: E402

for _builder in (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3, EfficientNetB4, EfficientNetB5,
                 EfficientNetB6, EfficientNetB7):
    register(Application(_builder.__name__, _builder, "none", default_size=efficientnet.VARIANTS[
        _builder.__name__[-2:].lower()][2], min_size=32, last_conv="top_activation"))
__all__ += ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
            "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "efficientnet"]

# ConvNeXt (apps-b).
from cnnkit.applications import convnext as convnext  # noqa: E402
from cnnkit.applications.convnext import ConvNeXtBase as ConvNeXtBase  # noqa: E402
from cnnkit.applications.convnext import ConvNeXtLarge as ConvNeXtLarge  # noqa: E402
from cnnkit.applications.convnext import ConvNeXtSmall as ConvNeXtSmall  # noqa: E402
from cnnkit.applications.convnext import ConvNeXtTiny as ConvNeXtTiny  # noqa: E402
from cnnkit.applications.convnext import ConvNeXtXLarge as ConvNeXtXLarge  # noqa: E402

for _size, _builder in (("tiny", ConvNeXtTiny), ("small", ConvNeXtSmall), ("base", ConvNeXtBase),
                        ("large", ConvNeXtLarge), ("xlarge", ConvNeXtXLarge)):
    # The last maps: the last block's residual sum is an operation, not a layer; its branch's _identity layer.
    register(Application(_builder.__name__, _builder, "none", default_size=224, min_size=32,
                         last_conv=f"convnext_{_size}_stage_3_block_2_identity"))
__all__ += ["ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "convnext"]

# EfficientNetV2 (apps-b).
from cnnkit.applications import efficientnet_v2 as efficientnet_v2  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B0 as EfficientNetV2B0  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B1 as EfficientNetV2B1  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B2 as EfficientNetV2B2  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2B3 as EfficientNetV2B3  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2L as EfficientNetV2L  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2M as EfficientNetV2M  # noqa: E402
from cnnkit.applications.efficientnet_v2 import EfficientNetV2S as EfficientNetV2S  # noqa: E402

for _variant, (_key, _width, _depth, _size) in efficientnet_v2.VARIANTS.items():
    _builder = getattr(efficientnet_v2, f"EfficientNetV2{_variant}")
    register(Application(_builder.__name__, _builder, "none", default_size=_size, min_size=32,
                         last_conv="top_activation"))
__all__ += ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2L",
            "EfficientNetV2M", "EfficientNetV2S", "efficientnet_v2"]
