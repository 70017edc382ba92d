"""A reasoning model's thinking on a terminal: shown while it arrives, then one line.

While the model thinks, a small live region (live.py's, so narrowing the terminal leaves
no stale copy) shows a `thinking… 3.2 s` header and the last few lines of the thinking,
dimmed, cropped to the screen, redrawn ten times a second by a small thread. When the
answer starts the region is erased and replaced by one line, `thought for 8.2 s · ~1,240
tokens` (the server's count when it has given one by then, else an estimate marked `~`),
and the answer's own sink takes over. With `keep` (--show-reasoning, /reasoning on) the
whole thinking is printed dimmed into the scrollback above that line. A reply that is all
thinking (cut off, or a `<think>` never closed) keeps it on screen: there is nothing else.

Without a live region (--raw, TERM=dumb) no cursor moves but a carriage return: a
"thinking…" line that the summary overwrites, or with `keep` the thinking as it comes.
Model text is made terminal-safe here like everywhere else. Pipes never get here.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from aimlchat.terminal.environment import Environment
from aimlchat.terminal.live import LiveRegion, NoEcho, terminal_reflows
from aimlchat.terminal.output import REPLY, Sink, StdoutWrites
from aimlchat.terminal.sanitize import held_back, terminal_safe
from aimlchat.words import plural

if TYPE_CHECKING:
    from rich.console import Console

LIVE_ROWS = 6  # lines of thinking shown while it streams (fewer on a short screen)
REFRESH_PER_SECOND = 10
STYLE = "dim"
HEADER_STYLE = "dim italic"
_SGR = {STYLE: "\x1b[2m", HEADER_STYLE: "\x1b[2;3m"}
_RESET = "\x1b[0m"


def rough_tokens(text: str) -> float:
    """About four characters a token: the fallback when no estimator is given."""
    return len(text) / 4


def summary(seconds: float | None, tokens: int | None, estimate: float) -> str:
    """`thought for 8.2 s · 1,240 tokens`; `~` marks a count that is an estimate. No time
    when it is not known (a whole, non-streamed reply arrives at once)."""
    estimated = tokens is None
    count = plural(max(1, round(estimate)) if tokens is None else tokens, "token")
    took = "thought" if seconds is None else f"thought for {seconds:.1f} s"
    return f"{took} · {'~' * estimated}{count}"


def with_thinking(
    env: Environment,
    answer: Sink,
    *,
    raw: bool,
    keep: bool,
    estimate: Callable[[str], float] = rough_tokens,
) -> Sink:
    """`answer` with the thinking shown before it on a terminal; a pipe gets the answer only."""
    if not env.stdout_tty:
        return answer
    return ThinkingSink(
        answer,
        env.stdout,
        color=env.stdout_color,
        keep=keep,
        live=not (raw or env.dumb_terminal),
        estimate=estimate,
        reflow=terminal_reflows(env.environ),
        input_fd=env.stdin_fd(),
    )


class ThinkingSink:
    """The reply's sink on a terminal, with the thinking shown before `answer`."""

    def __init__(
        self,
        answer: Sink,
        file: TextIO,
        *,
        color: bool,
        keep: bool = False,
        live: bool = True,
        estimate: Callable[[str], float] = rough_tokens,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        reflow: bool = True,
        input_fd: int | None = None,
    ) -> None:
        self._answer = answer
        self._file = file
        self._color = color
        self._width = width
        self._console: Console | None = None
        self.keep = keep
        self._live_wanted = live
        self._estimate = estimate
        self._clock = clock
        self._parts: list[str] = []
        self._tail = ""  # the end of the thinking, made safe: what the region shows
        self._cr = ""  # a CR at the end of the last piece, shown once the next one comes
        self._started: float | None = None
        self._tokens: int | None = None
        self._done = False  # the answer started (or the reply ended): no more live thinking
        self._region: LiveRegion | None = None
        self._reflow = reflow
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._no_echo = NoEcho(input_fd)
        if live:
            self._warm_up()

    def _warm_up(self) -> None:
        """Take the first-use costs now, while the request is on its way, so that the
        first thought shows at once."""
        self._rows(40, 10)

    @property
    def console(self) -> Console:
        if self._console is None:
            from aimlchat.terminal.render import make_console

            self._console = make_console(self._file, color=self._color, width=self._width)
        return self._console

    # -- what the session calls ------------------------------------------------------------

    def reason(self, text: str) -> None:
        if not text:
            return
        self._parts.append(text)
        if self._done:
            return  # thinking after the answer began: kept in history, not redrawn
        with StdoutWrites(REPLY):  # a failed write says what it means (the ticker's are dropped)
            self._show(text)

    def _show(self, text: str) -> None:
        text, self._cr = held_back(self._cr + text)  # a CRLF cut in two is a newline
        safe = terminal_safe(text)
        self._tail = (self._tail + safe)[-8192:]
        if self._started is None:
            self._started = self._clock()
            self._begin()  # drawn at once, this first piece with it
        elif self._region is None and self.keep:
            self._out(safe, STYLE)

    def reasoning_tokens(self, count: int) -> None:
        """The server's count of the thinking (usage.completion_tokens_details)."""
        self._tokens = count

    def feed(self, text: str) -> None:
        if text and not self._done:
            with StdoutWrites(REPLY):
                self._close(answered=True)
        self._answer.feed(text)

    def finish(self, *, status: str | None = None) -> None:
        with StdoutWrites(REPLY):
            if not self._done:
                self._close(answered=False)
            else:
                self._end_region()  # in case Ctrl-C cut the closing short
        self._answer.finish(status=status)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    # -- the live region -------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._live_wanted:
            self._out("thinking\n" if self.keep else "thinking…", HEADER_STYLE)
            if self.keep:
                self._out(self._tail, STYLE)
            return
        self._region = LiveRegion(self._write, reflow=self._reflow)
        self._no_echo.start()
        self._draw()
        self._ticker = threading.Thread(target=self._tick, name="thinking", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1 / REFRESH_PER_SECOND):
            # A terminal gone away is heard of by the main thread on its next write.
            with contextlib.suppress(OSError, ValueError):
                self._draw()

    def _draw(self) -> None:
        with self._lock:
            if self._region is None:
                return
            width, height = self._size()
            self._region.update([], self._rows(width, height), width)

    def _rows(self, width: int, height: int) -> list[tuple[str, int]]:
        """The header and the last lines of the thinking: (what to write, cells)."""
        from rich.cells import cell_len
        from rich.text import Text

        elapsed = 0.0 if self._started is None else self._clock() - self._started
        header = f"thinking… {elapsed:.1f} s"[:width]
        rows = [(self._paint(header, HEADER_STYLE), cell_len(header))]
        count = max(1, min(LIVE_ROWS, height - 4))
        tail = self._tail[-count * width :].strip("\n").replace("\t", "    ")
        if tail:
            lines = Text(tail).wrap(self.console, width, overflow="fold")
            for line in lines[-count:]:
                plain = line.plain.rstrip()
                rows.append((self._paint(plain, STYLE), cell_len(plain)))
        return rows

    def _size(self) -> tuple[int, int]:
        """The terminal's size now (it may have been resized since the last draw)."""
        if self._width is not None:
            return self._width, 24
        with contextlib.suppress(AttributeError, OSError, ValueError):
            columns, lines = os.get_terminal_size(self._file.fileno())
            if columns > 0 and lines > 0:
                return columns, lines
        size = self.console.size
        return size.width, size.height

    # -- the end of the thinking -----------------------------------------------------------

    def _close(self, *, answered: bool) -> None:
        """The thinking is over: erase it, keep it if wanted (or if it is all there is),
        and say how long it took."""
        self._done = True
        if self._started is None:
            return  # no thinking at all: the answer shows as it would anyway
        # One piece: a whole body, all at once; the wait was not the thinking's alone.
        seconds = self._clock() - self._started if len(self._parts) > 1 else None
        live = self._end_region()
        thought = self.text.strip()
        line = summary(seconds, self._tokens, self._estimate(thought))
        if live:
            if self.keep or not answered:
                self._print_thinking(thought, header=True)
        elif self.keep:  # streamed as it came, under its header
            if not self._tail.endswith("\n"):
                self._write("\n")
        elif answered:
            self._write("\r")  # over "thinking…", which the summary is longer than
        else:
            self._write("\n")  # under "thinking…": all there is, so shown after all
            self._print_thinking(thought, header=False)
        self._out(line + ("\n\n" if answered else "\n"), HEADER_STYLE)

    def _end_region(self) -> bool:
        """Stop redrawing and erase the region; whether there was one."""
        self._stop.set()
        with self._lock:
            region, self._region = self._region, None
            if region is not None:
                region.close(self._size()[0])
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.join()
        self._no_echo.stop()
        return region is not None

    def _print_thinking(self, thought: str, *, header: bool) -> None:
        from rich.text import Text

        if header:
            self.console.print(Text("thinking", style=HEADER_STYLE))
        if thought:
            self.console.print(Text(terminal_safe(thought), style=STYLE), overflow="fold")

    # -- output ----------------------------------------------------------------------------

    def _paint(self, text: str, style: str) -> str:
        return f"{_SGR[style]}{text}{_RESET}" if self._color and text else text

    def _out(self, text: str, style: str) -> None:
        """Our own text or model text already made safe, in `style` when in colour."""
        lines = text.split("\n")  # each line styled on its own: a newline resets nothing
        self._write("\n".join(self._paint(line, style) for line in lines))

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
