"""Keras 3's `keras.ops.nn` attention, fold/unfold and CTC ops on torch.

Example:
    >>> q = np.random.rand(1, 4, 2, 8).astype("float32")           # (batch, length, heads, dim)
    >>> dot_product_attention(q, q, q).shape
    torch.Size([1, 4, 2, 8])
"""

import math

import torch
import torch.nn.functional as F

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import tensor


@keras_op("dot_product_attention")
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Keras's layout: (batch, length, heads, dim) for query, key and value."""
    q, k, v = (float_tensor(t) for t in (query, key, value))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = torch.einsum("btnh,bsnh->bnts", q, k) * scale
    if attn_logits_soft_cap is not None:
        logits = torch.tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + tensor(bias, device=q.device).to(q.dtype)
    keep = None
    if mask is not None:
        keep = tensor(mask, device=q.device).bool()
    if is_causal:
        causal = torch.ones(q.shape[1], k.shape[1], dtype=torch.bool, device=q.device).tril()
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = torch.where(keep, logits, torch.finfo(logits.dtype).min)
    weights = torch.softmax(logits, dim=-1)
    return torch.einsum("bnts,bsnh->btnh", weights, v)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


@keras_op("unfold")
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.Unfold on a (N, C, H, W) input: (N, C * kh * kw, L)."""
    return F.unfold(float_tensor(x), _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride))


@keras_op("fold")
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.Fold: (N, C * kh * kw, L) -> (N, C, H, W)."""
    return F.fold(float_tensor(x), _pair(output_size), _pair(kernel_size), _pair(dilation), _pair(padding),
                  _pair(stride))


@keras_op("ctc_loss")
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sample CTC loss; `output` holds logits (batch, time, classes), `mask_index` is the blank class."""
    logits = float_tensor(output)
    log_probs = torch.log_softmax(logits, dim=-1).transpose(0, 1)
    target = tensor(target, device=logits.device).to(torch.int64)
    return F.ctc_loss(log_probs, target, tensor(output_length).to(torch.int64),
                      tensor(target_length).to(torch.int64), blank=mask_index, reduction="none",
                      zero_infinity=False)


@keras_op("ctc_decode")
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """Greedy CTC decoding (TensorFlow's ctc_greedy_decoder): (decoded (1, batch, time) padded with -1, scores
    (batch, 1): the negative sum of each step's greatest logit)."""
    if strategy != "greedy":
        not_implemented("ctc_decode", "strategy='beam_search' (torch has no CTC beam search)")
    logits = float_tensor(inputs)
    lengths = tensor(sequence_lengths, device=logits.device).to(torch.int64)
    best, indices = logits.max(dim=-1)
    time = torch.arange(logits.shape[1], device=logits.device)
    valid = time[None, :] < lengths[:, None]
    scores = -(best * valid).sum(dim=1, keepdim=True)
    keep = valid & (indices != mask_index)
    if merge_repeated:
        repeated = torch.cat([torch.zeros_like(indices[:, :1], dtype=torch.bool), indices[:, 1:] == indices[:, :-1]],
                             dim=1)
        keep = keep & ~repeated
    decoded = torch.full_like(indices, -1)
    for b in range(indices.shape[0]):
        kept = indices[b][keep[b]]
        decoded[b, :kept.numel()] = kept
    return decoded.unsqueeze(0).to(torch.int32), scores
