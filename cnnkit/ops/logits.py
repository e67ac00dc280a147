"""The logits behind a softmax or sigmoid output, kept beside it as Keras's TensorFlow backend keeps them.

Keras's `softmax` and `sigmoid` (the activations, the Softmax layer and `keras.ops`) store their input on their
output (`output._keras_logits`), and its cross-entropies (`categorical_crossentropy`,
`sparse_categorical_crossentropy`, `binary_crossentropy`, as losses and as metrics) given such an output compute
from those logits (log-softmax, log-sigmoid) instead of from the probabilities, which they would clip to
[1e-7, 1 - 1e-7]. So a Keras model ending in `Dense(10, activation="softmax")` trains on the exact log-softmax: a
confidently wrong sample (its class's probability below 1e-7) keeps its gradient, and its loss is not capped at
-log(1e-7) = 16.1. Anything applied to the output after the activation (a cast, a reshape, `where`) gives a
tensor without logits, and the loss then clips the probabilities, in Keras and in cnnkit alike.

cnnkit keeps the same attribute on torch tensors (`attach_logits`, `logits_of`); a layout change or a `detach`
of the whole output carries it along (`carry_logits`).

Example:
    >>> import torch
    >>> x = torch.tensor([[40.0, 0.0, 0.0]])
    >>> p = attach_logits(torch.softmax(x, dim=-1), x)
    >>> logits_of(p) is x
    True
"""

ATTRIBUTE = "_keras_logits"


def attach_logits(output, logits):
    """Stores `logits` on `output` (a torch tensor) and returns `output`."""
    setattr(output, ATTRIBUTE, logits)
    return output


def logits_of(tensor):
    """The logits stored on `tensor` by `attach_logits`, or None."""
    return getattr(tensor, ATTRIBUTE, None)


def carry_logits(new, old, transform):
    """`new` (computed from `old` by `transform`, e.g. a layout view or `detach`) with `transform(old's logits)`
    attached when `old` has logits; `new` unchanged otherwise."""
    logits = logits_of(old)
    return new if logits is None else attach_logits(new, transform(logits))
