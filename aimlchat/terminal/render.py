"""Rich output on a terminal: the streaming Markdown renderer and tables.

The only importer of rich. Finished blocks are printed once into the scrollback;
a transient live region redraws only the unfinished tail, cropped to the screen, at
most a dozen times a second. Every piece of model text is made terminal-safe first.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from aimlchat.terminal.blocks import BlockSplitter
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output, PlainSink, Sink
from aimlchat.terminal.sanitize import terminal_safe

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

REFRESH_PER_SECOND = 12


def make_console(file: TextIO, *, color: bool, terminal: bool = True) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=terminal,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
    )


def markdown(text: str, code_theme: str) -> Any:
    from rich.markdown import Markdown

    # hyperlinks=False: a link shows its URL, so link text cannot disguise where it goes.
    return Markdown(terminal_safe(text), code_theme=code_theme, hyperlinks=False)


class _HoldInterrupts:
    """Ctrl-C during a screen update waits until the update is done.

    A KeyboardInterrupt raised half-way through drawing the live region leaves rich
    unsure of what is on screen, and the tail is then printed twice.
    """

    def __init__(self) -> None:
        self._pending = False
        self._previous: Any = None
        self._active = False

    def _hold(self, signum: int, frame: Any) -> None:
        self._pending = True

    def __enter__(self) -> None:
        self._active = threading.current_thread() is threading.main_thread()
        if self._active:
            self._pending = False
            self._previous = signal.signal(signal.SIGINT, self._hold)

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)
            if self._pending and exc[0] is None:
                raise KeyboardInterrupt


class _NoEcho:
    """Keys typed while a reply streams (Ctrl-C's own "^C" included) are not echoed.

    The terminal would print them inside the live region, which rich then cannot
    erase exactly: lines end up on screen twice. Typed text stays queued for the
    next prompt.
    """

    def __init__(self, fd: int | None) -> None:
        self._fd = fd
        self._saved: list[Any] | None = None

    def start(self) -> None:
        if self._fd is None:
            return
        try:
            import termios

            self._saved = termios.tcgetattr(self._fd)
            quiet = list(self._saved)
            quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
            termios.tcsetattr(self._fd, termios.TCSANOW, quiet)
        except (ImportError, OSError, ValueError):
            self._saved = None

    def stop(self) -> None:
        if self._saved is None or self._fd is None:
            return
        try:
            import termios

            termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)
        except (OSError, ValueError):
            pass
        self._saved = None


class _Tail:
    """The live region: the last screenful of the unfinished block."""

    def __init__(self, sink: MarkdownSink) -> None:
        self._sink = sink

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        height = max(1, console.size.height - 2)
        lines = self._sink.tail_lines(height, height * max(20, options.max_width))
        if not lines:
            return
        rendered = console.render_lines(
            markdown("\n".join(lines), self._sink.code_theme), options, pad=False
        )
        for line in rendered[-height:]:
            yield from line
            yield Segment.line()


class MarkdownSink:
    """Streams Markdown to a terminal in time linear in the reply's length.

    Finished blocks wait in `_pending` (still drawn by the live tail) and are printed
    together at most a dozen times a second, so a fast stream costs a few large
    Markdown renders instead of one per paragraph.
    """

    def __init__(
        self,
        file: TextIO,
        *,
        color: bool,
        code_theme: str,
        live: bool = True,
        input_fd: int | None = None,
    ) -> None:
        import rich.markdown  # noqa: F401  (load now, not on the first token)
        from rich.live import Live

        self.console = make_console(file, color=color)
        self.code_theme = code_theme
        self.splitter = BlockSplitter()
        self.lock = threading.Lock()
        self._pending: list[str] = []
        self._printed = False
        self._live: Live | None = None
        self._use_live = live
        self._last_refresh = 0.0
        self._last_flush = 0.0
        self._live_cls = Live
        self._hold = _HoldInterrupts()
        self._no_echo = _NoEcho(input_fd)

    def tail_lines(self, max_lines: int, max_chars: int) -> list[str]:
        """What the live region shows: finished-but-unprinted blocks, then the tail."""
        with self.lock:
            tail = self.splitter.tail_lines(max_lines, max_chars)
            lines: list[str] = []
            for block in reversed(self._pending):
                if len(lines) + len(tail) >= max_lines:
                    break
                lines[:0] = [*block.split("\n")[-max_lines:], ""]
        return (lines + tail)[-max_lines:] if tail else lines[-max_lines:]

    def _flush(self) -> None:
        """Print the pending blocks once, as one document, into the scrollback."""
        # Hold the live region's lock so its thread cannot draw between the blocks
        # leaving the tail and their landing in the scrollback (no flicker, no doubles).
        guard = getattr(self._live, "_lock", None) or threading.RLock()
        with guard:
            with self.lock:
                blocks, self._pending = self._pending, []
            if not blocks:
                return
            rendered = self.console.render_lines(
                markdown("\n\n".join(blocks), self.code_theme), pad=False, new_lines=False
            )
            while rendered and _blank(rendered[-1]):
                rendered.pop()
            while rendered and _blank(rendered[0]):
                rendered.pop(0)
            from rich.segment import Segment, Segments

            segments: list[Segment] = []
            if self._printed:
                segments.append(Segment.line())
            for line in rendered:
                segments.extend(line)
                segments.append(Segment.line())
            self.console.print(Segments(segments), end="")
            self._printed = True
        self._last_flush = time.monotonic()

    def feed(self, text: str) -> None:
        with self._hold:
            self._feed(text)

    def _feed(self, text: str) -> None:
        with self.lock:
            self._pending.extend(self.splitter.feed(text))
        now = time.monotonic()
        if self._pending and (
            not self._use_live or now - self._last_flush > 1 / REFRESH_PER_SECOND
        ):
            self._flush()
        if not self._use_live:
            return
        if self._live is None:
            self._live = self._live_cls(
                _Tail(self),
                console=self.console,
                auto_refresh=True,
                refresh_per_second=REFRESH_PER_SECOND,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="visible",
            )
            self._no_echo.start()
            self._live.start(refresh=True)
            self._last_refresh = time.monotonic()
            return
        # The live thread refreshes on its own; refresh here too when it has been a
        # while, so a token after a pause shows at once rather than on the next tick.
        if now - self._last_refresh > 1 / REFRESH_PER_SECOND:
            self._live.refresh()
            self._last_refresh = now

    def finish(self, *, status: str | None = None) -> None:
        with self._hold:
            self._finish(status)

    def _finish(self, status: str | None) -> None:
        with self.lock:
            self._pending.extend(self.splitter.close())
        try:
            self._flush()
        finally:
            if self._live is not None:
                self._live.stop()
                self._live = None
            self._no_echo.stop()
        if status:  # "interrupted" or "incomplete", as history marks the reply
            self.console.print(f"[{status}]", style="dim italic", markup=False)


def _blank(line: list[Any]) -> bool:
    """An empty line with no background colour (a code block's padding is not blank)."""
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


def print_table(
    file: TextIO,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    color: bool,
    terminal: bool,
    justify_right: Sequence[int] = (),
) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    console = make_console(file, color=color, terminal=terminal)
    table = Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in justify_right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(terminal_safe(cell) for cell in row))
    console.print(table)


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
    )
