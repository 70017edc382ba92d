"""stdout, decided once: the model's bytes exactly to a pipe, sanitised text to a terminal.

Every command writes what it prints through `Output`, so no command has to remember to
test `isatty` or to sanitise: a pipe or file gets data byte for byte, a terminal never
gets an escape sequence it did not come from us. A reader that goes away (`| head`)
becomes `StdoutClosed` (exit 141) here, the one place that writes; stdout that refuses
data (a full disk, an I/O error, closed by the caller) becomes `StdoutUnwritable`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import BinaryIO, Protocol, TextIO, cast, runtime_checkable

from aimlchat.errors import AimlchatError, StdoutClosed, StdoutUnwritable
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.sanitize import held_back, terminal_safe

REPLY = "the reply"  # what a sink's failed write could not show


def write_failed(exc: OSError, what: str = "the output") -> AimlchatError:
    """A failed write to stdout, as the user hears of it: a reader that went away is a
    quiet 141; a full disk, an I/O error or a closed descriptor is one clear line."""
    if isinstance(exc, BrokenPipeError):
        return StdoutClosed("stdout was closed")
    return StdoutUnwritable(exc.strerror or str(exc), what=what)


class StdoutWrites:
    """`with StdoutWrites("the reply"):` around writes to stdout that do not go through
    `Output` (the rich renderer's): an OSError becomes what `write_failed` says."""

    def __init__(self, what: str = "the output") -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, OSError):
            raise write_failed(exc, self.what) from None


class Output:
    def __init__(self, env: Environment) -> None:
        self.stream: TextIO = env.stdout
        self.is_terminal = env.stdout_tty
        self.color = env.stdout_color
        self._bin: BinaryIO | None = getattr(env.stdout, "buffer", None)

    def data(self, text: str) -> None:
        """Untrusted text (model output, history, server strings): exact, or made safe."""
        if self.is_terminal:
            self._write_text(terminal_safe(text))
        else:
            self._write_bytes(text)

    def control(self, sequence: str) -> None:
        """An escape sequence of our own (OSC 52 for /copy): only ever to a terminal."""
        if self.is_terminal:
            self._write_text(sequence)

    def flush(self) -> None:
        """Everything written is on its way (before another process writes here)."""
        try:
            self.stream.flush()
        except OSError as exc:
            raise write_failed(exc) from None

    def _write_bytes(self, text: str) -> None:
        if self._bin is None:
            self._write_text(text)
            return
        try:
            # Bytes, not the text layer: the locale's encoding must not mangle data.
            self.stream.flush()
            self._bin.write(text.encode("utf-8", "surrogateescape"))
            self._bin.flush()
        except OSError as exc:
            raise write_failed(exc) from None

    def _write_text(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            raise write_failed(exc) from None


class Sink(Protocol):
    """Consumes the reply's text as it streams."""

    def feed(self, text: str) -> None: ...

    def finish(self, *, status: str | None = None) -> None:
        """The reply ended; `status` says how if not whole ("interrupted", "incomplete")."""


@runtime_checkable
class ReasoningSink(Sink, Protocol):
    """A sink that shows the model's thinking too (a terminal's); the others drop it,
    so a pipe carries the answer only."""

    def reason(self, text: str) -> None: ...

    def reasoning_tokens(self, count: int) -> None:
        """The server's count of the thinking tokens, once it gives one."""


class PlainSink:
    """A pipe or file: exactly the model's text, flushed per delta, one trailing newline.

    `--raw` on a terminal uses it too: `Output.data` makes the text safe there, and a
    CR at the end of a delta waits for the next one, so that a CRLF cut between two
    deltas shows as a newline (not `^M`) as it does within one.
    """

    def __init__(self, out: Output) -> None:
        self._out = out
        self._last = ""
        self._cr = ""  # a CR held back on a terminal
        self._failed: StdoutUnwritable | None = None

    def feed(self, text: str) -> None:
        if self._out.is_terminal:
            text, self._cr = held_back(self._cr + text)
        if not text or self._failed is not None:
            return
        try:
            self._out.data(text)
        except StdoutUnwritable as exc:
            # A full disk: the reply still comes in whole, to be saved; `finish` says why
            # it is not here (after saving).
            self._failed = exc
            return
        self._last = text[-1]

    def finish(self, *, status: str | None = None) -> None:
        held, self._cr = self._cr, ""
        try:
            if self._failed is None and (held or (self._last and self._last != "\n")):
                self._out.data(held + "\n")
                self._last = "\n"
        except StdoutUnwritable as exc:
            self._failed = exc
        if self._failed is not None:
            raise StdoutUnwritable(self._failed.reason, what=REPLY)


class SinkPerReply:
    """A sink that opens a fresh one for each reply of a turn: a terminal sink is done once
    finished, and a tool step's lines go between two replies. Build it with `per_reply`."""

    def __init__(self, make: Callable[[], Sink], first: Sink) -> None:
        self._make = make
        self._current: Sink | None = first

    def feed(self, text: str) -> None:
        self._sink().feed(text)

    def _sink(self) -> Sink:
        if self._current is None:
            self._current = self._make()
        return self._current

    def finish(self, *, status: str | None = None) -> None:
        current, self._current = self._current, None
        if current is not None:
            current.finish(status=status)
        elif status:  # nothing shown yet, but how the reply ended is still worth a line
            self._make().finish(status=status)


class ThinkingPerReply(SinkPerReply):
    """`SinkPerReply` over sinks that show the model's thinking (a terminal's). Real methods,
    not `__getattr__`: from Python 3.12 a runtime Protocol check ignores `__getattr__`, and
    the thinking view went blank."""

    def reason(self, text: str) -> None:
        cast(ReasoningSink, self._sink()).reason(text)

    def reasoning_tokens(self, count: int) -> None:
        cast(ReasoningSink, self._sink()).reasoning_tokens(count)


def per_reply(make: Callable[[], Sink]) -> SinkPerReply:
    """A sink per reply of a turn, showing thinking exactly when `make`'s sinks do.

    The first one is made now, while the request is on its way: a terminal sink loads its
    renderer, and made on the first token it would delay it ~60 ms."""
    first = make()
    if isinstance(first, ReasoningSink):
        return ThinkingPerReply(make, first)
    return SinkPerReply(make, first)
