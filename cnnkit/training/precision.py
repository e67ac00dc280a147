"""What the trainer does for mixed precision: loss scaling for 'mixed_float16', float32 losses, numpy outputs.

The layers themselves compute under their dtype policy (`cnnkit.mixed_precision`), so the training step needs no
autocast of its own.
"""

import torch

from cnnkit.optimizers.loss_scale import LossScaleOptimizer

_HALF = (torch.float16, torch.bfloat16)


def loss_scaled(model, optimizer, auto_scale_loss=True):
    """`optimizer`, wrapped in a `LossScaleOptimizer` when the model's policy is 'mixed_float16' and
    `auto_scale_loss` (Keras 3's compile rule)."""
    if not isinstance(auto_scale_loss, bool):
        raise ValueError(f"compile: auto_scale_loss must be True or False. Received: auto_scale_loss="
                         f"{auto_scale_loss!r}")
    policy = getattr(model, "dtype_policy", None)
    if auto_scale_loss and policy is not None and policy.name == "mixed_float16" and not isinstance(
            optimizer, LossScaleOptimizer):
        return LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
    return optimizer


def float32_outputs(outputs):
    """The model's outputs with float16/bfloat16 ones cast to float32: losses and metrics compute in float32, as
    Keras's (their dtype is floatx)."""
    if not any(o.dtype in _HALF for o in outputs):
        return outputs
    return [o.float() if o.dtype in _HALF else o for o in outputs]


def to_numpy(tensor):
    """A host numpy array; bfloat16 becomes float32 (numpy has no bfloat16), float16 stays float16 as in Keras."""
    tensor = tensor.cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
