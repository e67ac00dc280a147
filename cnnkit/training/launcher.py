"""`python -m cnnkit.training.launcher ARGS`: `python -m torch.distributed.run ARGS` (torchrun), ending quietly.

`cnnkit train --nproc N` starts its processes through this. torch's launcher ends with a traceback of its own in two
cases where the workers have already said what happened: a stop signal (Ctrl-C, SIGTERM, SIGHUP), which it passes
to the workers (they save the best model so far and say where) and waits for, and a worker that failed (it printed
its own error, e.g. `cnnkit train: error: ...`). This exits instead with 128 + the signal (130 after Ctrl-C), or
with the failed worker's exit status after one line naming it. Everything else is torch's launcher unchanged.
"""

import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main


def run(argv=None):
    """Runs torch's launcher on `argv` (default sys.argv[1:]); returns its exit status (see the module doc)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        main()
    except SignalException as stop:
        return 128 + int(stop.sigval)
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()
        code = failure.exitcode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        print(f"cnnkit: training process {rank} {how}", file=sys.stderr)
        return 128 - code if code < 0 else max(code, 1)
    return 0


if __name__ == "__main__":
    sys.exit(run())
