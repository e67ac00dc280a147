"""`tf.data.experimental`'s names that tutorials use: `cnnkit.data.experimental.AUTOTUNE`, `cardinality(ds)`,
INFINITE_CARDINALITY, UNKNOWN_CARDINALITY (see `cnnkit.data.pipeline`)."""

from cnnkit.data.pipeline import AUTOTUNE as AUTOTUNE
from cnnkit.data.pipeline import INFINITE_CARDINALITY as INFINITE_CARDINALITY
from cnnkit.data.pipeline import UNKNOWN_CARDINALITY as UNKNOWN_CARDINALITY
from cnnkit.data.pipeline import cardinality as cardinality

__all__ = ["AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "cardinality"]
