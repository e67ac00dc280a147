"""SIGTERM handled like Ctrl-C while `fit` runs (and while `cnnkit train` runs).

A service manager, a batch scheduler or `kill` stops a job with SIGTERM. Python's default is to die at once, in the
middle of whatever runs; while `fit` runs cnnkit raises `Terminated` in the main thread instead, which is both a
KeyboardInterrupt (so the Ctrl-C path runs: `try/finally` blocks, the training loop unwinds, a checkpoint being
written is discarded while the previous one stays, `cnnkit train` says where the best model is) and a
SystemExit with status 143 (128 + SIGTERM, what a shell reports for a process SIGTERM ended), so a script that does
not catch it exits quietly with that status. A SIGTERM handler of the program's own is left alone, and nothing
changes outside the main thread.
"""

import contextlib
import signal
import threading

EXIT_STATUS = 128 + int(signal.SIGTERM)  # 143


class Terminated(SystemExit, KeyboardInterrupt):
    """SIGTERM received while training: a KeyboardInterrupt and a SystemExit with status 143.

    Example:
        >>> try:
        ...     model.fit(x, y, epochs=100)
        ... except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM
        ...     print("stopped:", "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C")
    """

    def __init__(self, code=EXIT_STATUS):
        super().__init__(code)

    def __str__(self):
        return "Terminated by SIGTERM"


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises `Terminated` in the main thread (when the program has no SIGTERM handler
    of its own and this is the main thread; otherwise nothing changes)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not \
            signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
