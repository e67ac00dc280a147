"""Functional math and the one place Keras semantics map onto torch.

- `cnnkit.ops.shapes`: output sizes and 'same' padding arithmetic.
- `cnnkit.ops.arguments`: constructor-argument normalisation and its errors.
- `cnnkit.ops.layout`: Keras channels_last <-> internal channels-first, the weight-layout table.
- `cnnkit.ops.functional`: convolutions (plain, transposed, depthwise, separable), pooling, batch normalisation with Keras
  semantics on torch tensors.
- `cnnkit.ops.normalization`: layer / group / unit normalisation and standardisation.
- `cnnkit.ops.noise`: dropout and the noise layers' math.
- `cnnkit.ops.image_math`: Keras's (TensorFlow's) image resizing, aspect-ratio crop/pad and CenterCrop on torch tensors.
- `cnnkit.ops.numpy_ops`: the seeds' convolve / convolve2d / pooling on numpy arrays, and the Sobel kernels.
"""

from cnnkit.ops.numpy_ops import SOBEL_HORIZONTAL as SOBEL_HORIZONTAL
from cnnkit.ops.numpy_ops import SOBEL_VERTICAL as SOBEL_VERTICAL
from cnnkit.ops.numpy_ops import average_pool2d as average_pool2d
from cnnkit.ops.numpy_ops import convolve as convolve
from cnnkit.ops.numpy_ops import convolve2d as convolve2d
from cnnkit.ops.numpy_ops import max_pool2d as max_pool2d
from cnnkit.ops.shapes import conv_output_length as conv_output_length
from cnnkit.ops.shapes import same_padding as same_padding

__all__ = [
    "SOBEL_HORIZONTAL", "SOBEL_VERTICAL", "average_pool2d", "conv_output_length", "convolve", "convolve2d",
    "max_pool2d", "same_padding",
]
