"""Rich output on a terminal: the streaming Markdown renderer and tables.

Finished blocks are printed once into the scrollback; a live region under them
(live.py) redraws only the unfinished tail, cropped to the screen, at most a dozen
times a second. A code block taller than the screen does not wait for its end: its
finished lines go to the scrollback as they come, highlighted a batch at a time, and
only its last few lines stay live; a table that tall shows its raw last lines until it
is complete and can be laid out. Rows are made (and model text made terminal-safe) in
paint.py; with it, the only importer of rich.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from aimlchat.terminal.blocks import Block, BlockSplitter, Tail
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.live import LiveRegion, NoEcho, terminal_reflows
from aimlchat.terminal.output import REPLY, Output, PlainSink, Sink, StdoutWrites

if TYPE_CHECKING:
    from rich.console import Console

    from aimlchat.terminal.paint import Row

REFRESH_PER_SECOND = 12
KEEP_LIVE = 4  # lines of a code block taller than the screen that are still drawn live


def make_console(
    file: TextIO, *, color: bool, terminal: bool = True, width: int | None = None
) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=terminal,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        width=width,
    )


class _HoldInterrupts:
    """Ctrl-C while the screen is being updated waits until the update is done.

    A KeyboardInterrupt raised half-way through drawing the live region leaves the
    screen and the record of what is on it apart, and the tail is then printed twice.
    The handler is installed once per reply, not per token (that cost a tenth of the
    rendering time); outside an update, Ctrl-C goes on to the handler it replaced.
    """

    def __init__(self) -> None:
        self._previous: Any = None
        self._thread: int | None = None  # the main thread, once installed
        self._holding = False
        self._pending = False

    def install(self) -> None:
        if self._thread is None and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self._thread = threading.get_ident()

    def remove(self) -> None:
        if self._thread is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._thread = None

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self._holding:
            self._pending = True
        else:
            self._pass_on(frame)

    def _pass_on(self, frame: Any) -> None:
        if callable(self._previous):
            self._previous(signal.SIGINT, frame)
        elif self._previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    def __enter__(self) -> None:
        self._holding = threading.get_ident() == self._thread

    def __exit__(self, *exc: object) -> None:
        if self._holding:
            self._holding = False
            if self._pending:
                self._pending = False
                if exc[0] is None:
                    self._pass_on(None)


class MarkdownSink:
    """Streams Markdown to a terminal in time linear in the reply's length.

    Each update ("tick") prints the blocks finished since the last one, as one document,
    and redraws the tail, in a single write. Ticks come at most a dozen times a second:
    text arriving sooner waits for a timer, so a fast stream costs a few large renders
    instead of one per token, and a pause still shows every token at once.
    """

    def __init__(
        self,
        file: TextIO,
        *,
        color: bool,
        code_theme: str,
        live: bool = True,
        input_fd: int | None = None,
        reflow: bool = True,
        width: int | None = None,
    ) -> None:
        from aimlchat.terminal.paint import Painter

        self.console = make_console(file, color=color, width=width)
        self.painter = Painter(self.console, code_theme)
        self.splitter = BlockSplitter()
        self._file = file
        self._fd = _terminal_fd(file)
        self._lock = threading.Lock()
        self._pending: list[Block] = []
        self._gap = False  # something is printed: a blank row goes before what follows
        self._use_live = live
        self._live = LiveRegion(self._write, reflow=reflow)
        self._started = False
        self._closed = False
        self._last_tick = 0.0
        self._timer: threading.Timer | None = None
        self._hold = _HoldInterrupts()
        self._no_echo = NoEcho(input_fd)
        self._warm_up()

    def _warm_up(self) -> None:
        """Take the first-use costs now, while the request is on its way, so that the
        first token shows at once."""
        width = self._size()[0]
        for row in self.painter.markdown("Warm **up** `x`", width):
            self.painter.encode(row, width)
        signal.getsignal(signal.SIGINT)

    def feed(self, text: str) -> None:
        self._hold.install()
        with StdoutWrites(REPLY), self._hold, self._lock:
            self._pending.extend(self.splitter.feed(text))
            if not self._use_live:
                if self._pending:
                    width = self._size()[0]
                    self._print(self._render_pending(width), width)
            elif time.monotonic() - self._last_tick >= 1 / REFRESH_PER_SECOND:
                self._tick()
            elif self._timer is None:
                wait = self._last_tick + 1 / REFRESH_PER_SECOND - time.monotonic()
                self._timer = threading.Timer(max(0.0, wait), self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def finish(self, *, status: str | None = None) -> None:
        with StdoutWrites(REPLY), self._hold:
            self._finish(status)

    def _finish(self, status: str | None) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self._pending.extend(self.splitter.close())
            width = self._size()[0]
            try:
                rows = self._render_pending(width)
                if self._started:
                    self._live.update(self._encode(rows, width), [], width)
                else:
                    self._print(rows, width)
            finally:
                try:
                    self._live.close(width)
                finally:  # even when the terminal refuses the erase: Ctrl-C and echo back
                    self._no_echo.stop()
                    self._hold.remove()
        if status:  # "interrupted" or "incomplete", as history marks the reply
            self.console.print(f"[{status}]", style="dim italic", markup=False)

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            # If the terminal is gone, the main thread hears of it on its next write.
            with contextlib.suppress(OSError, ValueError):
                self._tick()

    # -- one update of the screen ------------------------------------------------------

    def _tick(self) -> None:
        width, height = self._size()
        budget = max(3, height - 2)  # the most rows the live region takes
        rows = self._render_pending(width)
        if self.splitter.open_code_lines >= budget:
            part = self.splitter.take_code(KEEP_LIVE)
            if part is not None:
                code = self.painter.code(part.lines, part.lang, part.context)
                rows += self._unit(code, continued=not part.first)
        live = self._tail_rows(self.splitter.tail(budget, width), width, budget)
        if not self._started:
            self._started = True
            self._no_echo.start()
        self._live.update(
            self._encode(rows, width),
            [self.painter.encode(row, width, crop=True) for row in live],
            width,
        )
        self._last_tick = time.monotonic()

    def _render_pending(self, width: int) -> list[Row]:
        """The finished blocks as rows: Markdown a run at a time, code blocks alone."""
        blocks, self._pending = self._pending, []
        rows: list[Row] = []
        run: list[str] = []
        for block in blocks:
            if block.lang is None:
                run.append(block.source)
                continue
            if run:
                rows += self._unit(self.painter.blocks(run, width))
                run = []
            code = self.painter.code(block.code, block.lang, block.context)
            rows += self._unit(code, continued=block.continued)
        if run:
            rows += self._unit(self.painter.blocks(run, width))
        return rows

    def _unit(self, rows: list[Row], *, continued: bool = False) -> list[Row]:
        """Rows of a block, after a blank row if something was printed before them."""
        from aimlchat.terminal.paint import BLANK

        if continued or not rows:
            return rows
        gap = [BLANK] if self._gap else []
        self._gap = True
        return gap + rows

    def _tail_rows(self, tail: Tail, width: int, budget: int) -> list[Row]:
        """What the live region shows: never more than `budget` rows."""
        from aimlchat.terminal.paint import BLANK

        if not tail.lines:
            return []
        if tail.kind == "code":
            rows = self.painter.code(tail.lines, tail.lang, tail.context)
        elif tail.kind == "table" and tail.cropped:
            rows = self.painter.plain(tail.lines)  # cannot be laid out until complete
        else:
            rows = self.painter.markdown("\n".join(tail.lines), width)
            if tail.kind == "table" and len(rows) > budget:
                rows = self.painter.plain(tail.lines)
        if self._gap and not tail.continued:
            rows = [BLANK, *rows]
        return rows[-budget:]

    # -- output --------------------------------------------------------------------------

    def _encode(self, rows: list[Row], width: int) -> list[str]:
        return [self.painter.encode(row, width)[0] for row in rows]

    def _print(self, rows: list[Row], width: int) -> None:
        if rows:
            self._write("".join(text + "\n" for text in self._encode(rows, width)))

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

    def _size(self) -> tuple[int, int]:
        """The terminal's size now (it may have been resized since the last update)."""
        if self._fd is not None:
            try:
                columns, lines = os.get_terminal_size(self._fd)
            except OSError:
                pass
            else:
                if columns > 0 and lines > 0:
                    return columns, lines
        size = self.console.size
        return size.width, size.height


def _terminal_fd(file: TextIO) -> int | None:
    try:
        return file.fileno() if file.isatty() else None
    except (AttributeError, OSError, ValueError):
        return None


def print_markdown(file: TextIO, text: str, *, color: bool, code_theme: str) -> None:
    """A whole finished text (history, `/history`): the same renderer, fed at once."""
    sink = MarkdownSink(file, color=color, code_theme=code_theme, live=False)
    sink.feed(text)
    sink.finish()


def make_sink(env: Environment, *, raw: bool, code_theme: str) -> Sink:
    """Terminal vs pipe is decided here, once: pipes get the model's bytes untouched."""
    if not env.stdout_tty or raw:
        return PlainSink(Output(env))
    return MarkdownSink(
        env.stdout,
        color=env.stdout_color,
        code_theme=code_theme,
        live=not env.dumb_terminal,
        input_fd=env.stdin_fd(),
        reflow=terminal_reflows(env.environ),
    )
