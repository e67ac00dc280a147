"""`Weight`: the class of a layer's trainable weights, a `torch.nn.Parameter` that also answers Keras's `.value`.

Keras 3 code written for its PyTorch backend reads a variable's tensor as `variable.value`, e.g. the gradients
in a custom `train_step`: `[v.value.grad for v in self.trainable_weights]`. In cnnkit the weight is the tensor
(in torch layout, as the optimizer updates it), so `value` is the weight itself and that line runs unchanged.

Example:
    >>> w = Weight(torch.zeros(2, 3))
    >>> w.value is w, isinstance(w, torch.nn.Parameter)
    (True, True)
"""

import torch


def _rebuild(data, requires_grad):
    return Weight(data, requires_grad)


class Weight(torch.nn.Parameter):
    """A trainable layer weight (a `torch.nn.Parameter`); `value` is the weight itself (Keras's `Variable.value`).

    Note:
        Operations on a Weight give plain tensors, as on any Parameter; pickling keeps the class.
    """

    @property
    def value(self):
        """The weight's tensor: the weight itself (Keras's `Variable.value`)."""
        return self

    def __reduce_ex__(self, protocol):
        return _rebuild, (self.data, self.requires_grad)
