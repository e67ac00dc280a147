"""Global settings: the compute device, float type, epsilon and the (fixed) image data format."""

import torch

_state = {"device": None, "floatx": "float32", "epsilon": 1e-7}


def image_data_format():
    """Always 'channels_last': cnnkit's API takes and returns images as (batch, height, width, channels).

    Note:
        Internally tensors are kept in PyTorch's channels-first order with channels_last memory, so no
        copy is made at the API edge.
    """
    return "channels_last"


def floatx():
    return _state["floatx"]


def set_floatx(value):
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(
            "set_floatx: value must be one of 'float16', 'bfloat16', 'float32', 'float64'. "
            f"Received: value={value!r}"
        )
    _state["floatx"] = value


def epsilon():
    return _state["epsilon"]


def set_epsilon(value):
    _state["epsilon"] = float(value)


def get_device():
    """The torch device cnnkit computes on: the one set by `set_device`, else CUDA when available, else CPU."""
    if _state["device"] is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return _state["device"]


def set_device(device):
    """Overrides the compute device ('cpu', 'cuda', 'cuda:1', a torch.device, or None for automatic)."""
    if device is None:
        _state["device"] = None
        return
    try:
        _state["device"] = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"set_device: expected 'cpu', 'cuda', 'cuda:N' or None. Received: device={device!r}"
        ) from err


def torch_dtype(name=None):
    """The torch dtype for a Keras dtype name (default: floatx())."""
    name = name or floatx()
    if isinstance(name, torch.dtype):
        return name
    table = {
        "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
        "float64": torch.float64, "int32": torch.int32, "int64": torch.int64, "uint8": torch.uint8,
        "bool": torch.bool,
    }
    if str(name) not in table:
        raise ValueError(f"Unknown dtype: {name!r}. Valid dtypes: {', '.join(table)}.")
    return table[str(name)]
