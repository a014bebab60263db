"""``held_interrupt``: a Ctrl-C that lands between two calls that belong together waits for both."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def held_interrupt() -> Iterator[None]:
    """Inside the block, a first Ctrl-C is held until the block ends and raised there (a second
    one is raised at once: a hung call can still be stopped).  ``minimize`` holds one across a
    tell and the metric report due after it, so that an interrupted run never has the step
    without its report, which would change the schedule of the run continued from there.

    Only in the main thread and while Python's own SIGINT handler is installed: another
    program's handler is left alone."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    pressed: list[bool] = []

    def hold(signum, frame) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pressed:
        raise KeyboardInterrupt
