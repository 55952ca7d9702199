"""SIGINT / SIGTERM as a request to stop after the current step (the loop saves, then stops)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from ..errors import UserError


def catch_stop_signals(on_signal: Callable[[signal.Signals], None]) -> dict:
    """Route SIGINT and SIGTERM to ``on_signal(sig)``; returns the previous handlers.

    Only the main thread may set handlers; elsewhere nothing changes and ``{}`` is returned.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, _frame):
        on_signal(signal.Signals(signum))

    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}


def restore_signals(handlers: dict) -> None:
    """Put back the handlers :func:`catch_stop_signals` replaced."""
    for sig, old in handlers.items():
        signal.signal(sig, old)


class TrainingInterrupted(UserError):
    """SIGINT or SIGTERM stopped training; a checkpoint was saved (the message names it).

    ``exit_code`` is the shell's convention for a process ended by that signal (130, 143).
    """

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)
        self.prefix = "Stopped"
