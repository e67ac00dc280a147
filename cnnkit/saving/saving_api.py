"""Keras 3's `keras.saving` functions on models: load_model, save_model, and the function forms of
`model.load_weights` / `model.save_weights` (`load_weights(model, filepath)`)."""

from cnnkit.models.saving import load_model as load_model
from cnnkit.models.saving import save_model as save_model
from cnnkit.models.saving import load_weights as _load_weights
from cnnkit.models.saving import save_weights as _save_weights


def save_weights(model, filepath, overwrite=True, **kwargs):
    """Keras's `keras.saving.save_weights(model, filepath, overwrite=True)`: same as `model.save_weights`."""
    if kwargs:
        raise ValueError(f"save_weights: unexpected keyword arguments {sorted(kwargs)}.")
    return _save_weights(model, filepath, overwrite=overwrite)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Keras's `keras.saving.load_weights(model, filepath, skip_mismatch=False)`: same as `model.load_weights`
    (also `by_name=True` for tf.keras '.h5' files)."""
    by_name = kwargs.pop("by_name", False)
    if kwargs:
        raise ValueError(f"load_weights: unexpected keyword arguments {sorted(kwargs)}.")
    return _load_weights(model, filepath, skip_mismatch=skip_mismatch, by_name=by_name)
