"""An interrupt that Python swallows (raised inside a finalizer) is raised again at the next
check point, and the command still exits 128 + the signal."""

import gc
import os
import signal
import sys

import pytest

from clustering import interrupts
from clustering.cli import guarded


class _SignalsWhenCollected:
    """Sends `signum` to this process from its finalizer, where a raise is only printed."""

    def __init__(self, signum: int):
        self.signum = signum

    def __del__(self):
        os.kill(os.getpid(), self.signum)
        sum(range(1000))  # bytecodes after the kill: the handler raises here, and is ignored


def _swallow(signum: int) -> None:
    """Send `signum` from a finalizer; checks that Python swallowed the raise."""
    swallowed, previous = [], sys.unraisablehook
    sys.unraisablehook = swallowed.append
    try:
        _SignalsWhenCollected(signum)
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [type(seen.exc_value) for seen in swallowed] == [interrupts.Interrupted]


def test_a_swallowed_interrupt_is_raised_at_the_next_check():
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.signals_interrupt():
        _swallow(signal.SIGTERM)
        assert interrupts.pending() == signal.SIGTERM
        with pytest.raises(interrupts.Interrupted) as raised:
            interrupts.check()
    assert raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_a_command_that_ends_after_a_swallowed_interrupt_exits_with_the_signal(capsys):
    def command() -> int:
        _swallow(signal.SIGTERM)
        return 0

    assert guarded(command) == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM" in capsys.readouterr().err
    assert guarded(lambda: 0) == 0  # the next command starts with nothing pending
