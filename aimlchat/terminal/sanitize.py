"""Make untrusted text safe to show on a terminal.

Model output and server error text are data. On a terminal, a raw ESC, a C1 control
or a BEL could retitle the window, clear the screen or write the clipboard (OSC 52),
so every such character is shown visibly instead (ESC becomes `^[`). Only newline and
tab pass. Bidi overrides are shown too, since they can make text read differently
from what it is.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def held_back(text: str) -> tuple[str, str]:
    """`text` without a trailing CR, and that CR.

    For text that streams in pieces: the CR may be half of a CRLF whose LF starts the
    next piece, and `terminal_safe` makes a CRLF a newline only when it sees it whole.
    """
    return (text[:-1], "\r") if text.endswith("\r") else (text, "")


def is_terminal_safe(text: str) -> bool:
    """Whether `terminal_safe` would leave `text` as it is."""
    return _UNSAFE.search(text) is None


def terminal_safe(text: str) -> str:
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(_visible, text)


def one_line(text: object) -> str:
    """A server's string as one cell of a tab-separated line on a pipe: a tab, line break
    or other unprintable character becomes a space, so it stays on its line and column."""
    return "".join(c if c.isprintable() else " " for c in str(text))
