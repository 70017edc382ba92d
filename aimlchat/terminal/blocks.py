"""Split a streaming Markdown reply into finished blocks, looking at each line once.

A block (paragraph, heading, list, quote, table, fenced code) is handed out as soon
as it is known to be complete, so the renderer draws it once and never again; only
the unfinished tail is redrawn, and only the last screenful of it. That keeps a
reply's rendering cost linear in its length.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^( {0,3}|\s*)(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_THEMATIC = re.compile(r"^ {0,3}((\*\s*){3,}|(-\s*){3,}|(_\s*){3,})$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d{1,9}[.)])(\s|$)")


class BlockSplitter:
    def __init__(self) -> None:
        self._line: list[str] = []  # the line being received
        self._cur: list[str] = []  # lines of the block being built
        self._kind = ""  # "para", "list", "quote", "table", "fence"
        self._fence: str | None = None  # closing marker of an open fence
        self._fence_nested = False  # the fence sits inside a list item
        self._fence_start = 0  # index in _cur of the fence's opening line
        self._blank = False  # the block has seen a blank line after its text

    def feed(self, text: str) -> list[str]:
        """Take more text; return the blocks it completed."""
        done: list[str] = []
        start = 0
        while True:
            nl = text.find("\n", start)
            if nl < 0:
                break
            self._line.append(text[start:nl])
            line = "".join(self._line)
            self._line = []
            self._on_line(line, done)
            start = nl + 1
        if start < len(text):
            self._line.append(text[start:])
        return done

    def close(self) -> list[str]:
        """End of the reply: whatever is left is a block too (an open fence included)."""
        done: list[str] = []
        if self._line:
            line = "".join(self._line)
            self._line = []
            self._on_line(line, done)
        self._emit(done)
        return done

    def tail_lines(self, max_lines: int, max_chars: int) -> list[str]:
        """The unfinished text, cut to what fits on a screen.

        An open fence keeps its opening line so the part shown still renders as code.
        """
        lines = list(self._cur[-max_lines:]) if self._cur else []
        if self._line:
            lines.append("".join(self._line))
            lines = lines[-max_lines:]
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and len(lines[-1]) > max_chars:
            lines[-1] = lines[-1][-max_chars:]
        if self._fence is not None and len(self._cur) - self._fence_start > max_lines:
            lines.insert(0, self._cur[self._fence_start])
        return lines

    def _on_line(self, line: str, done: list[str]) -> None:
        if self._fence is not None:
            self._cur.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and set(stripped) == {self._fence[0]}:
                self._fence = None
                if not self._fence_nested:
                    self._emit(done)
            return
        if not line.strip():
            if self._cur:
                self._cur.append(line)
                self._blank = True
            return
        indented = line.startswith(("  ", "\t"))
        if self._blank:
            continues = indented or (self._kind == "list" and bool(_LIST_ITEM.match(line)))
            if not continues:
                self._emit(done)
        self._blank = False
        fence = _FENCE.match(line)
        if fence:
            nested = bool(self._cur) and self._kind == "list" and indented
            if not nested:
                self._emit(done)
                self._kind = "fence"
            self._fence = fence.group(2)[0] * len(fence.group(2))
            self._fence_nested = nested
            self._fence_start = len(self._cur)
            self._cur.append(line)
            return
        if not indented and _HEADING.match(line):
            self._emit(done)
            self._cur = [line]
            self._emit(done)
            return
        if self._kind == "para" and self._cur and _SETEXT.match(line):
            self._cur.append(line)  # "Title\n-----" is a heading, not a rule
            self._emit(done)
            return
        if not indented and _THEMATIC.match(line):
            self._emit(done)
            self._cur = [line]
            self._emit(done)
            return
        if not self._cur:
            self._kind = _kind_of(line)
        elif self._kind == "para" and line.lstrip().startswith("|") and "|" in line[1:]:
            # A table right after a paragraph line: keep them apart so the table renders.
            self._emit(done)
            self._kind = "table"
        self._cur.append(line)

    def _emit(self, done: list[str]) -> None:
        while self._cur and not self._cur[-1].strip():
            self._cur.pop()
        if self._cur:
            done.append("\n".join(self._cur))
        self._cur = []
        self._kind = ""
        self._fence = None
        self._fence_nested = False
        self._blank = False


def _kind_of(line: str) -> str:
    stripped = line.lstrip()
    if _LIST_ITEM.match(line):
        return "list"
    if stripped.startswith(">"):
        return "quote"
    if stripped.startswith("|"):
        return "table"
    return "para"


def split_blocks(text: str) -> list[str]:
    """All blocks of a finished text (for tests and non-streamed replies)."""
    splitter = BlockSplitter()
    blocks = splitter.feed(text)
    blocks.extend(splitter.close())
    return blocks
