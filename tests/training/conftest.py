"""Fixtures shared by the training tests."""

import pytest

from cnnkit import mixed_precision


@pytest.fixture
def float32_policies(keras):
    """Both libraries start and end the test with the float32 policy (mixed-precision tests set their own)."""
    mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")
    yield
    mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")
