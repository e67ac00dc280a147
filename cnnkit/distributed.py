"""Which process am I? For scripts run under `torchrun` (see `cnnkit.training.strategies` for what `fit` does).

Example:
    >>> import cnnkit
    >>> if cnnkit.distributed.is_chief():   # rank 0 (always True in a single process)
    ...     model.save('final.keras')
"""

from cnnkit.training.distributed import init as init
from cnnkit.training.distributed import is_chief as is_chief
from cnnkit.training.distributed import rank as rank
from cnnkit.training.distributed import world_size as world_size

__all__ = ["init", "is_chief", "rank", "world_size"]
