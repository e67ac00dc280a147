"""`fit(cache_frozen='auto')`, the default: cache the frozen part's features (`cnnkit.training.frozen`) when that is
safe and pays, without being asked.

It caches when the model has a frozen first part (a backbone with `trainable = False`) whose output is
deterministic in training (no random layers, no dropout, no BatchNormalization updating its statistics), there is
something left to train, the training data is index-based and not augmented (arrays, cnnkit's image iterators
without random transforms), more than one epoch runs, training is in one process, and the features fit the memory
budget (`cnnkit.config.set_frozen_cache_budget`; default a quarter of the memory available when fit starts). The
results equal those of the same fit without the cache (float rounding aside). With verbose >= 1 it says in one line
that it caches, or, for a model with a frozen part, why it does not; a model with no frozen part is trained as
always, silently.
"""

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
    if not frozen_nodes or not rest_nodes or epochs <= 1:
        return train, val  # nothing frozen, nothing to train, or no later epoch to gain: as always, silently
    reason = frozen.why_not_cacheable(train)
    if distributed.world_size() > 1:
        reason = "training runs in several processes"
    if reason:
        _say(verbose, f"not caching the frozen part's features (cache_frozen='auto'): {reason}.")
        return train, val
    split = frozen.FrozenSplit(model)
    samples = _samples(train) + ((_samples(val) or 0) if val is not None and not frozen.why_not_cacheable(val)
                                 else 0)
    size, per_sample = _feature_bytes(split, samples)
    budget = config.frozen_cache_budget()
    if size > budget:
        _say(verbose, f"not caching the frozen part's features (cache_frozen='auto'): {_megabytes(size)} for "
                      f"{samples:,} samples would exceed the budget of {_megabytes(budget)} "
                      "(cnnkit.config.set_frozen_cache_budget).")
        return train, val
    _say(verbose, f"caching the frozen part's output ({per_sample:,} floats per sample, {_megabytes(size)}) during "
                  "epoch 1; later epochs train only the rest (cache_frozen='auto'; False turns it off).")
    return frozen.cache(model, train, val)
