"""The live region: the unfinished tail of a reply, redrawn in place under the scrollback.

Each row drawn ends with a newline, so the cursor rests at the start of the row under
the region, and erasing it is "up by the rows drawn, clear to the end of the screen".
Rows are never drawn wider than the screen, so they take one row each, until the
terminal is narrowed: most terminals (tmux, VTE, kitty, iTerm2, Apple's Terminal,
Windows Terminal, xterm.js) then re-wrap a row of w cells onto ceil(w / width) rows;
a few (xterm, GNU screen, the Linux console) cut it instead. The erase counts rows the
way the terminal laid them out, so no stale copy of the tail is left behind.

Also here: keys typed while a reply streams are not echoed into the region.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aimlchat.osplatform import echo_off, in_foreground, restore_modes

HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"


def terminal_reflows(environ: Mapping[str, str]) -> bool:
    """Whether the terminal re-wraps lines when it is narrowed (most do)."""
    if environ.get("TMUX"):
        return True
    if environ.get("STY") or environ.get("XTERM_VERSION"):  # GNU screen, xterm
        return False
    term = environ.get("TERM", "")
    return not (term in ("linux", "st") or term.startswith("st-"))


class LiveRegion:
    def __init__(self, write: Callable[[str], None], *, reflow: bool) -> None:
        self._write = write
        self._reflow = reflow
        self._rows: list[int] = []  # the cells each drawn row holds
        self._width = 0  # the terminal's width when they were drawn
        self._active = False

    def update(self, printed: list[str], rows: list[tuple[str, int]], width: int) -> None:
        """In one write: erase the region, print `printed` for good, draw `rows` live."""
        out = [self._erase(width)]
        if not self._active:
            out.append(HIDE_CURSOR)
            self._active = True
        for text in printed:
            out += (text, "\n")
        for text, _ in rows:
            out += (text, "\n")
        self._rows = [cells for _, cells in rows]
        self._width = width
        self._write("".join(out))

    def close(self, width: int) -> None:
        """Erase what is drawn and give the cursor back."""
        if self._active:
            self._write(self._erase(width) + SHOW_CURSOR)
            self._rows = []
            self._active = False

    def _erase(self, width: int) -> str:
        if not self._rows:
            return ""
        if self._reflow and width < self._width:
            up = sum(max(1, -(-cells // width)) for cells in self._rows)
        else:
            up = len(self._rows)
        # Not a plain ED from column 0: when the region starts on the top row (narrowing
        # pushed the rest into the scrollback, or the screen was just cleared), tmux takes
        # ED at the top-left corner for a clear screen and scrolls a copy into its history
        # (scroll-on-clear), on every redraw. So: clear the row, then ED from column 1.
        return f"\r\x1b[{up}A\x1b[2K\x1b[C\x1b[J\r"


class NoEcho:
    """Keys typed while a reply streams (Ctrl-C's own "^C" included) are not echoed.

    The terminal would print them inside the live region, which then cannot be erased
    exactly: lines end up on screen twice. Typed text stays queued for the next prompt.
    Only a foreground process touches the modes: in the background (`aimlchat ask … &`)
    changing them would stop the process with SIGTTOU.
    """

    def __init__(self, fd: int | None) -> None:
        self._fd = fd
        self._saved: list[Any] | None = None

    def start(self) -> None:
        if self._fd is None or not in_foreground(self._fd):
            return
        self._saved = echo_off(self._fd)

    def stop(self) -> None:
        if self._saved is None or self._fd is None:
            return
        saved, self._saved = self._saved, None
        if not in_foreground(self._fd):
            return  # sent to the background meanwhile: the shell owns the modes now
        restore_modes(self._fd, saved)
