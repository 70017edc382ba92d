"""The one signal policy, for every command.

SIGINT stays Python's KeyboardInterrupt: the REPL turns it into "back to the prompt",
elsewhere it is exit 130. SIGTERM and SIGHUP end the run wherever it is: each raises its
exception (`Terminated`, `Hangup`) in the main thread, so the partial reply is saved as
interrupted and a running tool's process group is stopped on the way out (143, 129).
`main` installs the handlers (`ending_raises`); the REPL's prompts route the same handlers
through their event loop (`through_loop`), and `batch` has them call it (`ending_calls`).
A SIGHUP the process was started ignoring (`nohup`) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from aimlchat.errors import Hangup, Terminated
from aimlchat.osplatform import point_at_devnull

Handler = Callable[[int, Any], None]


def ending_signals() -> dict[int, type[Terminated]]:
    """The signals that end a run and what each raises: SIGTERM, and SIGHUP where the
    system has one (Windows has not) and it is not ignored: `nohup aimlchat …` asked to
    outlive its terminal."""
    endings: dict[int, type[Terminated]] = {signal.SIGTERM: Terminated}
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        endings[hangup] = Hangup
    return endings


def silence(fds: Sequence[int]) -> None:
    """Point `fds` (the outputs that were the terminal) at /dev/null: after a hangup every
    write to the terminal fails (EIO), and the way out (the partial reply's last line, a
    notice, the final flush) must not turn the hangup into an error, or into exit 120."""
    point_at_devnull(fds)


def _in_flight(raised: BaseException | None) -> bool:
    """Is an ending on its way out: `raised` (what this handler raised) or any other
    Terminated (a Hangup the consent question raised when the terminal's read failed)
    being handled — an except or finally block, a context manager's exit — in the frames
    the signal interrupted, or the context of what is?"""
    exc = sys.exc_info()[1]
    while exc is not None:
        if exc is raised or isinstance(exc, Terminated):
            return True
        exc = exc.__context__
    return False


def _raiser(endings: Mapping[int, type[Terminated]], terminal_fds: Sequence[int]) -> Handler:
    raised: BaseException | None = None

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal raised
        # On the way out already (a window closing may send HUP twice): the way out (saving
        # the reply, stopping a tool) must not be cut short. But one that a library's
        # callback swallowed never took effect, and this one must.
        if _in_flight(raised):
            return
        error = endings[signum]
        if error.terminal_gone:
            silence(terminal_fds)
        raised = error()
        raise raised

    return on_signal


@contextlib.contextmanager
def _handled(handlers: Mapping[int, Handler]) -> Iterator[None]:
    """`handlers` installed while inside, the previous ones put back after. Outside the
    main thread (an in-process test's thread) signals are left alone."""
    previous: dict[int, Any] = {}
    try:
        for signum, handler in handlers.items():
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def ending_raises(terminal_fds: Sequence[int] = ()) -> contextlib.AbstractContextManager[None]:
    """While inside, SIGTERM and SIGHUP raise in the main thread; a hangup first silences
    `terminal_fds`."""
    endings = ending_signals()
    handler = _raiser(endings, terminal_fds)
    return _handled(dict.fromkeys(endings, handler))


def ending_calls(
    call: Callable[[type[BaseException]], None],
    terminal_fds: Sequence[int] = (),
    *,
    interrupt: bool = False,
) -> contextlib.AbstractContextManager[None]:
    """While inside, SIGTERM and SIGHUP (and SIGINT, if `interrupt`) call `call` with what
    they would raise (`Terminated`, `Hangup`, `KeyboardInterrupt`) instead of raising: for
    a loop that stops at a point of its choosing. A hangup first silences `terminal_fds`.
    `call` runs in a signal handler: plain writes only."""

    def handler(error: type[BaseException]) -> Handler:
        def on_signal(signum: int, frame: Any) -> None:
            if getattr(error, "terminal_gone", False):
                silence(terminal_fds)
            call(error)

        return on_signal

    errors: dict[int, type[BaseException]] = {signal.SIGINT: KeyboardInterrupt} if interrupt else {}
    errors.update(ending_signals())
    return _handled({signum: handler(error) for signum, error in errors.items()})


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Inside, an ending signal or a Ctrl-C waits for the block to finish, then takes
    effect: for a short write that records what happened (a tool's result and the count
    of those saved), which a hangup arriving a moment after the terminal's read failed,
    or a Ctrl-C between the two, must not cut in half."""
    pending: list[int] = []
    handlers = installed()
    interrupt = signal.getsignal(signal.SIGINT)
    if callable(interrupt):  # Python's KeyboardInterrupt, or the REPL's own handler
        handlers[signal.SIGINT] = interrupt

    def hold(signum: int, frame: Any) -> None:
        pending.append(signum)

    try:
        with _handled(dict.fromkeys(handlers, hold)):
            yield
    finally:
        if pending:  # the process's handlers are back: as if the signal came now
            handlers[pending[0]](pending[0], None)


def installed() -> dict[int, Handler]:
    """The process's handlers for the ending signals, where they are Python functions:
    what an event loop calls in their stead (`through_loop`)."""
    found: dict[int, Handler] = {}
    for signum in ending_signals():
        handler = signal.getsignal(signum)
        if callable(handler):
            found[signum] = handler
    return found


@contextlib.contextmanager
def through_loop(stop: Callable[[BaseException], None]) -> Iterator[Callable[[], None]]:
    """For an asyncio loop run inside the block (a prompt_toolkit prompt).

    The process's handlers raise wherever the signal lands; inside one of the loop's
    callbacks or tasks asyncio catches that and carries on (prompt_toolkit's "Unhandled
    exception in event loop … Press ENTER to continue"), and the run never ends. Yields
    `attach`, to call once the loop runs (the prompt's `pre_run`): from then on the loop
    calls those handlers itself and gives what they raise to `stop` (which ends the loop
    with it). However the loop then ends, that exception is what leaves the block.
    """
    import asyncio

    handlers = installed()
    caught: list[BaseException] = []

    def call(handler: Handler, signum: int) -> None:
        try:
            handler(signum, None)
        except BaseException as exc:  # Terminated or Hangup, as the handler decided
            caught.append(exc)
            stop(exc)

    def attach() -> None:
        # Not in the main thread (pipe-input tests): the process's handlers stay.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop = asyncio.get_running_loop()
            for signum, handler in handlers.items():
                loop.add_signal_handler(signum, call, handler, signum)

    try:
        yield attach
    except Exception:
        if caught:  # the loop ended on its own (EOF, a failed write) as the signal came
            raise caught[0] from None
        raise
    finally:
        # The loop's own handlers are gone with the loop (SIG_DFL): put the process's back.
        for signum, handler in handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
    if caught:
        raise caught[0]
