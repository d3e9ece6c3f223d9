"""Ctrl-C and SIGTERM while a command runs: the handler raises `Interrupted` and remembers the
signal, so that an interrupt swallowed where Python ignores exceptions (a finalizer, a
garbage-collector callback) is raised again at the study's next check point."""

import contextlib
import signal
import threading

_pending: list[int] = []


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: the current trial fails cleanly, runs are closed, exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum, frame) -> None:
    for name in (signal.SIGINT, signal.SIGTERM):  # a second signal must not break the cleanup
        signal.signal(name, signal.SIG_IGN)
    _pending.append(signum)
    raise Interrupted(signum)


def pending() -> int | None:
    """The signal received while the command ran, or None."""
    return _pending[0] if _pending else None


def check() -> None:
    """Raise `Interrupted` again if a signal came and its first raise was swallowed."""
    if _pending:
        raise Interrupted(_pending[0])


@contextlib.contextmanager
def signals_interrupt():
    """SIGINT and SIGTERM raise Interrupted while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    previous = {name: signal.signal(name, _interrupt) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
