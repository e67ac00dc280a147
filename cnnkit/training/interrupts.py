"""SIGTERM handled like Ctrl-C while `fit` runs (and while `cnnkit train` runs).

A service manager, a batch scheduler or `kill` stops a job with SIGTERM. Python's default is to die at once, in the
middle of whatever runs; while `fit` runs cnnkit raises `Terminated` in the main thread instead, which is both a
KeyboardInterrupt (so the Ctrl-C path runs: `try/finally` blocks, the training loop unwinds, a checkpoint being
written is discarded while the previous one stays, `cnnkit train` says where the best model is) and a
SystemExit with status 143 (128 + SIGTERM, what a shell reports for a process SIGTERM ended), so a script that does
not catch it exits quietly with that status. A SIGTERM handler of the program's own is left alone, and nothing
changes outside the main thread.

`run_forwarding_stops` runs a child process (the `--nproc` launcher) so that a stop reaches it once and is waited for.
"""

import contextlib
import signal
import subprocess
import sys
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


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def run_forwarding_stops(command, env=None, notice=None):
    """Runs `command` (a subprocess argv) in a session of its own and returns its exit status. A Ctrl-C, SIGTERM or
    SIGHUP this process gets meanwhile is passed on to it once, then this waits for it to stop (a launcher such as
    `torch.distributed.run` passes the signal to its workers, which save what they have, and waits for them), and
    returns 128 + that signal (130 after Ctrl-C). A second one kills it at once.

    Without this, Ctrl-C in a terminal reaches the launcher and Python's `subprocess.run` SIGKILLs it a quarter of
    a second later: the workers (in sessions of their own) were left writing their files after the prompt came
    back, and with nobody to stop them if one hangs.

    Args:
        command: the argv list.
        env: its environment (default this one's).
        notice: printed to stderr when the first signal is passed on (e.g. what is being saved).

    Example:
        >>> status = run_forwarding_stops([sys.executable, "-m", "torch.distributed.run", ...])
    """
    if threading.current_thread() is not threading.main_thread():  # no signal handlers outside the main thread
        return subprocess.run(command, env=env, check=False).returncode
    state = {"proc": None, "signal": None}

    def forward(signum, frame):
        proc = state["proc"]
        if state["signal"] is not None:  # a second stop: now
            if proc is not None:
                proc.kill()
            return
        state["signal"] = signum
        if notice:
            print(notice, file=sys.stderr, flush=True)
        if proc is not None:
            proc.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        state["proc"] = proc = subprocess.Popen(command, env=env, start_new_session=True)
        if state["signal"] is not None:  # arrived while it was starting
            proc.send_signal(state["signal"])
        status = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status if state["signal"] is None else 128 + int(state["signal"])
