"""`fit(cache_frozen='auto')`, the default: cache the frozen part's features (`cnnkit.training.frozen`) when that is
safe and pays, without being asked.

It caches when the model has a frozen first part holding weights (a backbone with `trainable = False`; a first part
of weightless layers only, such as the `Rescaling` of a model trained from scratch, does not count) whose output is
deterministic in training (no random layers, no dropout, no BatchNormalization updating its statistics), there is
something left to train, the training data is index-based and not augmented (arrays, cnnkit's image iterators
without random transforms: `rescale`, normalisation and cnnkit's own `preprocess_input` functions are deterministic;
a user's `preprocessing_function` is code that cnnkit cannot tell is, so 'auto' leaves it alone and
`cache_frozen=True` caches it), more than one epoch runs, training is in one process, and the features fit the
memory budget (`cnnkit.config.set_frozen_cache_budget`; default a quarter of the memory available when fit starts).
Validation data is cached with the training data when it can be; when only the training data cannot (augmented),
the validation data's features are still cached when they can be (no random transforms: they never change).
The results equal those of the same fit without the cache (float rounding aside). With verbose >= 1 it says in one
line that it caches, or, for a model with a frozen part, why it does not; a model with no frozen part is trained as
always, silently.
"""

import functools
import math

from cnnkit import config
from cnnkit.training import data_adapter
from cnnkit.training import distributed
from cnnkit.training import frozen

FLOAT_BYTES = 4


def _samples(adapter):
    if isinstance(adapter, data_adapter.ArrayData):
        return adapter.num_samples
    return getattr(adapter.data, "n", None)


def _user_function(adapter):
    """The name of the user-written preprocessing_function of an image iterator's generator, else None (none, or
    one of cnnkit's own functions, e.g. an application's preprocess_input, possibly in a functools.partial)."""
    generator = getattr(getattr(adapter, "data", None), "image_data_generator", None)
    function = getattr(generator, "preprocessing_function", None)
    if function is None:
        return None
    inner = function
    while isinstance(inner, functools.partial):
        inner = inner.func
    if (getattr(inner, "__module__", None) or "").startswith("cnnkit."):
        return None
    return getattr(inner, "__qualname__", None) or type(inner).__name__


def why_not_automatic(adapter):
    """None when 'auto' may cache `adapter`'s samples, else the reason (`frozen.why_not_cacheable`'s, or a user's
    preprocessing_function)."""
    reason = frozen.why_not_cacheable(adapter)
    user = None if reason else _user_function(adapter)
    if user:
        reason = (f"its ImageDataGenerator's preprocessing_function ({user}) is code that cnnkit cannot tell is "
                  "deterministic; pass cache_frozen=True if it is")
    return reason


def _holds_weights(nodes):
    """Whether the frozen layer calls include weights (a frozen backbone or layer). A frozen part of weightless
    layers only (`Rescaling` before a trainable convolution, pooling, a fixed `Normalization`) is cheap to
    recompute: 'auto' neither caches it nor mentions it."""
    return any(p.numel() for node in nodes for p in node.layer.parameters())


def _feature_bytes(split, samples):
    per_sample = sum(math.prod(d for d in t.shape[1:]) for t in split.backbone.outputs)
    return per_sample * samples * FLOAT_BYTES, per_sample


def _say(verbose, text):
    if verbose and distributed.is_chief():
        print(f"fit: {text}", flush=True)


def _megabytes(count):
    return f"{count / 2**20:,.0f} MB" if count >= 2**20 else f"{count / 2**10:,.0f} KB"


def plan(model, train, val, cache_frozen, epochs, verbose):
    """The (train, validation) adapters fit uses: cached ones for `cache_frozen=True` (errors when it cannot),
    unchanged for False, and for 'auto' cached when safe and worth it (see the module's docstring).

    Args:
        model: the model being fitted.
        train, val: the data adapters (val may be None).
        cache_frozen: True, False or 'auto'.
        epochs: the number of epochs this fit runs.
        verbose: fit's resolved verbosity; 'auto' says what it decided when >= 1.
    """
    if cache_frozen is True:
        return frozen.cache(model, train, val)
    if cache_frozen is False:
        return train, val
    if cache_frozen != "auto":
        raise ValueError(f"fit: cache_frozen must be 'auto', True or False. Received: cache_frozen={cache_frozen!r}")
    from cnnkit.models.functional import Functional  # noqa: PLC0415 (models import the training package)

    if not (isinstance(model, Functional) and model.built):
        return train, val
    frozen_nodes, rest_nodes, _, _ = frozen.partition(model)
    if not _holds_weights(frozen_nodes) or not rest_nodes or epochs <= 1:
        return train, val  # nothing frozen, nothing to train, or no later epoch to gain: as always, silently
    reason = why_not_automatic(train)
    if distributed.world_size() > 1:
        _say(verbose, "not caching the frozen part's features (cache_frozen='auto'): training runs in several "
                      "processes.")
        return train, val
    cache_val = val is not None and why_not_automatic(val) is None
    if reason and not cache_val:
        _say(verbose, f"not caching the frozen part's features (cache_frozen='auto'): {reason}.")
        return train, val
    split = frozen.FrozenSplit(model)
    n_train = 0 if reason else _samples(train)
    n_val = (_samples(val) or 0) if cache_val else 0
    size, per_sample = _feature_bytes(split, n_train + n_val)
    budget = config.frozen_cache_budget()
    if size > budget:
        _say(verbose, f"not caching the frozen part's features (cache_frozen='auto'): {_megabytes(size)} for "
                      f"{n_train + n_val:,} samples would exceed the budget of {_megabytes(budget)} "
                      "(cnnkit.config.set_frozen_cache_budget).")
        return train, val
    if reason:
        _say(verbose, f"caching the frozen part's output for the validation data only ({n_val:,} samples, "
                      f"{_megabytes(size)}; cache_frozen='auto'), not for the training data: {reason}.")
        return train, frozen.wrap(val, split)
    what = f"{n_train:,} training + {n_val:,} validation samples" if n_val else f"{n_train:,} samples"
    _say(verbose, f"caching the frozen part's output ({per_sample:,} floats per sample, {_megabytes(size)} for "
                  f"{what}) during epoch 1; later epochs train only the rest (cache_frozen='auto'; False turns it "
                  "off).")
    return frozen.cache(model, train, val, split=split, cache_val=cache_val)
