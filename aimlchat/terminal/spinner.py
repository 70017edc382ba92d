"""While the first token is awaited on a terminal: a spinner with the seconds on stderr.

Drawn in place by a small thread ~10 times a second and erased before the reply's first
character is written, so it never mixes with the answer. On a pipe it does nothing.
Retries and other notices shown meanwhile replace its label; a retry's delay counts down
(`retrying (1/2) in 1.4 s`), then the new request's wait is counted from zero.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from aimlchat.terminal.live import NoEcho
from aimlchat.terminal.output import ReasoningSink, Sink
from aimlchat.terminal.sanitize import terminal_safe
from aimlchat.words import elide

if TYPE_CHECKING:
    from aimlchat.terminal.environment import Environment

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INTERVAL = 0.1
ERASE = "\r\x1b[K"


def spinner_wanted(env: Environment) -> bool:
    """Whether stderr is a terminal that can redraw a line in place."""
    return env.stderr_tty and not env.dumb_terminal


class Spinner:
    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        label: str = "waiting",
        clock: Callable[[], float] = time.monotonic,
        input_fd: int | None = None,  # the terminal's keys: not echoed while it turns
    ) -> None:
        self._stream = stream
        # A key echoed beside the spinner (Enter above all) moves the cursor off its row,
        # and the erase then misses it. Only where nothing else owns the modes: a reply's
        # live view sets them itself.
        self._no_echo = NoEcho(input_fd)
        self._enabled = enabled
        self._label = label
        self._clock = clock
        self._lock = threading.RLock()  # a signal handler may print while a line is written
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = clock()
        self._pause: Pause | None = None
        self._pause_ends = 0.0
        self._drawn = False

    def __enter__(self) -> Spinner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            self._started = self._clock()
        if not self._enabled:
            return
        self._stop.clear()
        self._no_echo.start()
        self._thread = threading.Thread(target=self._run, name="spinner", daemon=True)
        self._thread.start()

    def note(self, text: str) -> None:
        """Show `text` beside the spinner instead of the label (e.g. `receiving`). A
        `Pause` counts its seconds down, then the wait after it is counted from zero."""
        with self._lock:
            if isinstance(text, Pause):
                self._pause, self._pause_ends = text, self._clock() + text.seconds
            else:
                self._pause = None
                self._label = _one_line(text)

    def line(self) -> str:
        """What the spinner shows now, beside its frame: the current wait, never a
        finished one."""
        with self._lock:
            now = self._clock()
            if self._pause is not None:
                if now < self._pause_ends:
                    return f"{_one_line(self._pause.before)} {self._pause_ends - now:.1f} s"
                self._label, self._started = _one_line(self._pause.after), self._pause_ends
                self._pause = None
            return f"{self._label} {now - self._started:.1f} s"

    def stop(self) -> None:
        """Erase the spinner; returns once it can no longer draw."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        try:
            thread.join()  # a second Ctrl-C may land here: the echo comes back all the same
            with self._lock:
                self._erase()
        finally:
            self._no_echo.stop()

    def over(self, write: Callable[[], None]) -> None:
        """Run `write` (a line of someone else's on the same terminal: a warning, a
        --debug line) with the spinner erased first; it is drawn again below at its next
        frame. Never beside it: the two would share a row."""
        with self._lock:
            self._erase()
            write()

    @property
    def active(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        frame = 0
        # A first frame only after a moment: a fast server shows no flicker at all.
        if self._stop.wait(INTERVAL * 2):
            return
        while not self._stop.is_set():
            # Within the row: a line that wraps leaves a row behind each frame, as the
            # erase clears one row only. The width is read again: the window may change.
            text = elide(self.line(), self._columns() - 3)
            with self._lock:
                self._write(f"{ERASE}{FRAMES[frame % len(FRAMES)]} {text}")
                self._drawn = True
            frame += 1
            self._stop.wait(INTERVAL)

    def _erase(self) -> None:
        """Under the lock: the spinner's row cleared, if it was drawn."""
        if self._drawn:
            self._write(ERASE)
            self._drawn = False

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self._stream.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):
            return 80

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stop.set()


def _one_line(text: str) -> str:
    return terminal_safe(text).replace("\n", " ")


class Pause(str):
    """A notice of a pause (a retry's delay). As text it is the whole line, for stderr;
    beside a spinner, `before` and the seconds left, then `after` and the new wait's."""

    seconds: float
    before: str
    after: str

    def __new__(cls, text: str, *, seconds: float, before: str, after: str) -> Pause:
        pause = super().__new__(cls, text)
        pause.seconds, pause.before, pause.after = seconds, before, after
        return pause


class SpinnerSink:
    """A sink that stops the spinner just before the reply's first character."""

    def __init__(self, inner: Sink, spinner: Spinner) -> None:
        self._inner = inner
        self._spinner = spinner
        # Asked once: a protocol check per token costs a third of a piped reply's time.
        self._thinking = inner if isinstance(inner, ReasoningSink) else None

    def feed(self, text: str) -> None:
        if text and self._spinner.active:
            self._spinner.stop()
        self._inner.feed(text)

    def reason(self, text: str) -> None:
        """The model's first thought ends the wait as its first word would."""
        if text and self._spinner.active:
            self._spinner.stop()
        if self._thinking is not None:
            self._thinking.reason(text)

    def reasoning_tokens(self, count: int) -> None:
        if self._thinking is not None:
            self._thinking.reasoning_tokens(count)

    def finish(self, *, status: str | None = None) -> None:
        self._spinner.stop()
        self._inner.finish(status=status)
