"""cnnkit.backend (Keras 3's keras.backend), cnnkit.saving's names and the namespaces reachable after import."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import backend
from cnnkit.layers import Conv2D
from cnnkit.layers import Input


def test_backend_functions_match_keras(keras):
    assert backend.backend() == "torch"
    assert backend.floatx() == keras.backend.floatx() == "float32"
    assert backend.epsilon() == keras.backend.epsilon()
    assert backend.image_data_format() == keras.backend.image_data_format() == "channels_last"
    try:
        backend.set_epsilon(1e-5)
        assert backend.epsilon() == 1e-5 == cnnkit.config.epsilon()
        backend.set_floatx("float64")
        assert backend.floatx() == "float64"
    finally:
        backend.set_epsilon(1e-7)
        backend.set_floatx("float32")
    with pytest.raises(ValueError, match="float32"):
        backend.set_floatx("float8")
    backend.set_image_data_format("channels_last")
    with pytest.raises(NotImplementedError, match="channels_first"):
        backend.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="Received: data_format=nchw"):
        backend.set_image_data_format("nchw")
    with pytest.raises(ValueError):
        keras.backend.set_image_data_format("nchw")
    for dtype in ("float32", torch.float16, np.int64, float, "bool"):
        assert backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(
            dtype if not isinstance(dtype, torch.dtype) else "float16")
    assert backend.is_float_dtype("bfloat16") and backend.is_int_dtype("uint8") and not backend.is_float_dtype("int8")


def test_clear_session_names_uids_and_keras_tensors(keras):
    assert Conv2D(1, 1).name == "conv2d"
    assert backend.get_uid("conv2d") == 2  # as in Keras after one Conv2D
    keras.backend.clear_session()
    keras.layers.Conv2D(1, 1)
    assert keras.backend.get_uid("conv2d") == 2
    backend.clear_session()
    assert Conv2D(1, 1).name == "conv2d"
    assert cnnkit.utils.clear_session is backend.clear_session
    x = Input((3,))
    assert backend.is_keras_tensor(x) and not backend.is_keras_tensor(np.zeros(3))


def test_namespaces_after_import(keras):
    import cnnkit as fresh  # noqa: PLC0415

    assert callable(fresh.applications.ResNet50) and callable(fresh.applications.MobileNetV2)
    for name in dir(keras.saving):
        if not name.startswith("_") and name != "KerasFileEditor":
            assert hasattr(fresh.saving, name), name
    for name in ("PyDataset", "Sequence", "get_file", "to_categorical", "normalize", "Progbar",
                 "register_keras_serializable", "custom_object_scope", "get_custom_objects", "get_registered_name",
                 "get_registered_object", "serialize_keras_object", "deserialize_keras_object"):
        assert hasattr(keras.utils, name) and hasattr(fresh.utils, name), name
    for name in ("clone_model", "model_from_json", "load_model", "save_model"):
        assert hasattr(keras.models, name) and hasattr(fresh.models, name), name
    for name in dir(keras.backend):
        if not name.startswith("_") and name != "result_type":
            assert hasattr(fresh.backend, name), name
    assert fresh.saving.load_model is fresh.models.load_model
