"""The one signal policy, for every command.

SIGINT stays Python's KeyboardInterrupt: the REPL turns it into "back to the prompt",
elsewhere it is exit 130. SIGTERM and SIGHUP end the run wherever it is: each raises its
exception (`Terminated`, `Hangup`) in the main thread, so the partial reply is saved as
interrupted and a running tool's process group is stopped on the way out (143, 129).
`main` installs the handlers (`ending_raises`); the REPL's prompt routes the same handlers
through its event loop, and `batch` turns the same list into its stop flag.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aimlchat.errors import Hangup, Terminated

Handler = Callable[[int, Any], None]


def ending_signals() -> dict[int, type[Terminated]]:
    """The signals that end a run and what each raises: SIGTERM, and SIGHUP where the
    system has one (Windows has not)."""
    endings: dict[int, type[Terminated]] = {signal.SIGTERM: Terminated}
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        endings[hangup] = Hangup
    return endings


def silence(fds: Sequence[int]) -> None:
    """Point `fds` (the outputs that were the terminal) at /dev/null: after a hangup every
    write to the terminal fails (EIO), and the way out (the partial reply's last line, a
    notice, the final flush) must not turn the hangup into an error, or into exit 120."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    finally:
        os.close(null)


def _raiser(terminal_fds: Sequence[int]) -> Handler:
    ending = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal ending
        if ending:  # already on the way out (a window closing may send HUP twice)
            return
        ending = True
        error = ending_signals()[signum]
        if error.terminal_gone:
            silence(terminal_fds)
        raise error()

    return on_signal


@contextlib.contextmanager
def ending_raises(terminal_fds: Sequence[int] = ()) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise in the main thread; a hangup first silences
    `terminal_fds`. Elsewhere (an in-process test's thread) signals are left alone."""
    handler = _raiser(terminal_fds)
    previous: dict[int, Any] = {}
    try:
        for signum in ending_signals():
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def installed() -> dict[int, Handler]:
    """The process's handlers for the ending signals, where they are Python functions:
    what the REPL's event loop calls in their stead while a prompt runs."""
    found: dict[int, Handler] = {}
    for signum in ending_signals():
        handler = signal.getsignal(signum)
        if callable(handler):
            found[signum] = handler
    return found
