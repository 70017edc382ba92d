"""Split a streaming Markdown reply into finished blocks, looking at each line once.

A block (paragraph, heading, list, quote, table, fenced code) is handed out as soon
as it is known to be complete, so the renderer draws it once and never again; only
the unfinished tail is redrawn, and only the last screenful of it. That keeps a
reply's rendering cost linear in its length.

A fenced code block at the top level is special twice over: its lines are handed out
as code (never re-parsed as Markdown, so a cropped part of it cannot turn into a
paragraph), and while it is still open its finished lines can be taken early
(`take_code`), so a block taller than the screen streams line by line.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_FENCE = re.compile(r"^( {0,3}|\s*)(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_THEMATIC = re.compile(r"^ {0,3}((\*\s*){3,}|(-\s*){3,}|(_\s*){3,})$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d{1,9}[.)])(\s|$)")
CONTEXT = 20  # code lines kept after they are taken, so what follows highlights right


class Block(NamedTuple):
    """A finished block.

    `lang` is None for Markdown; for a top-level fenced code block it is the fence's
    language ("" when it names none) and `code` holds the lines left to print (fence
    markers removed); `continued` says earlier lines were taken already, the last of
    them in `context`.
    """

    source: str
    lang: str | None = None
    code: tuple[str, ...] = ()
    continued: bool = False
    context: tuple[str, ...] = ()


class CodePart(NamedTuple):
    """Finished lines of a still open code block, taken out to print now."""

    lang: str
    lines: list[str]
    first: bool  # nothing of this block was printed before
    context: list[str]  # the lines just above, to highlight these in context


class Tail(NamedTuple):
    """The unfinished block, cut to what fits on a screen."""

    kind: str  # "text" (Markdown), "code" (an open top-level fence), "table"
    lines: list[str]
    lang: str = ""
    context: tuple[str, ...] = ()  # for "code": the lines above `lines`
    continued: bool = False  # for "code": lines of it were taken already
    cropped: bool = False  # `lines` are not the whole block


class BlockSplitter:
    def __init__(self) -> None:
        self._line: list[str] = []  # the line being received
        self._cur: list[str] = []  # lines of the block being built
        self._kind = ""  # "para", "list", "quote", "table", "fence"
        self._fence: str | None = None  # closing marker of an open fence
        self._fence_nested = False  # the fence sits inside a list item
        self._fence_start = 0  # index in _cur of the fence's opening line
        self._fence_indent = 0  # spaces before the opening marker, removed from its lines
        self._lang = ""
        self._taken: list[str] = []  # the last lines taken from the open fence (context)
        self._taken_any = False
        self._blank = False  # the block has seen a blank line after its text

    def feed(self, text: str) -> list[Block]:
        """Take more text; return the blocks it completed."""
        done: list[Block] = []
        start = 0
        while True:
            nl = text.find("\n", start)
            if nl < 0:
                break
            self._line.append(text[start:nl])
            line = "".join(self._line)
            self._line = []
            self._on_line(line[:-1] if line.endswith("\r") else line, done)
            start = nl + 1
        if start < len(text):
            self._line.append(text[start:])
        return done

    def close(self) -> list[Block]:
        """End of the reply: whatever is left is a block too (an open fence included)."""
        done: list[Block] = []
        if self._line:
            line = "".join(self._line)
            self._line = []
            self._on_line(line, done)
        self._emit(done)
        return done

    @property
    def open_code_lines(self) -> int:
        """How many finished lines an open top-level fence holds (0 if none is open)."""
        if self._fence is None or self._kind != "fence":
            return 0
        return len(self._cur) - 1

    def take_code(self, keep: int) -> CodePart | None:
        """Hand out the open top-level fence's finished lines but the last `keep`."""
        count = self.open_code_lines - keep
        if count <= 0:
            return None
        lines = [self._dedent(line) for line in self._cur[1 : 1 + count]]
        del self._cur[1 : 1 + count]
        part = CodePart(self._lang, lines, not self._taken_any, self._taken)
        self._taken = (self._taken + lines)[-CONTEXT:]
        self._taken_any = True
        return part

    def tail(self, max_lines: int, width: int) -> Tail:
        """The unfinished text, cut to what fits on a screen `width` wide.

        For an open top-level fence, its last code lines (each cut to the width).
        Otherwise the last lines of the block's Markdown; a cropped nested fence keeps
        its opening line so the part shown still renders as code.
        """
        # A CR ending the partial line may be half of a CRLF: not shown as `^M` meanwhile.
        partial = "".join(self._line).removesuffix("\r")
        if self._fence is not None and self._kind == "fence":
            code = [*self._cur[1:], partial] if partial else self._cur[1:]
            while code and not code[-1].strip():
                code.pop()
            shown = [self._dedent(line)[:width] for line in code[-max_lines:]]
            above = [self._dedent(line) for line in code[: len(code) - len(shown)]]
            context = tuple((self._taken + above)[-CONTEXT:])
            return Tail("code", shown, self._lang, context, self._taken_any, bool(above))
        lines = self._cur[-max_lines:]
        if partial:
            lines = [*lines, partial][-max_lines:]
        cropped = len(self._cur) + bool(partial) > max_lines
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and len(lines[-1]) > max_lines * width:
            lines[-1] = lines[-1][-max_lines * width :]
        if self._fence is not None and len(self._cur) - self._fence_start > max_lines - 1:
            lines[:1] = [self._cur[self._fence_start]]
        kind = "table" if self._kind == "table" else "text"
        return Tail(kind, lines, cropped=cropped)

    def _dedent(self, line: str) -> str:
        """CommonMark: a fence indented by n spaces takes up to n from each of its lines."""
        cut = 0
        while cut < self._fence_indent and cut < len(line) and line[cut] == " ":
            cut += 1
        return line[cut:]

    def _on_line(self, line: str, done: list[Block]) -> None:
        if self._fence is not None:
            self._cur.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and set(stripped) == {self._fence[0]}:
                self._fence = None
                if not self._fence_nested:
                    self._cur.pop()
                    self._emit(done, closing=line)
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
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            self._open_fence(line, fence, indented, done)
            return
        if self._kind == "para" and self._cur and _SETEXT.match(line):
            self._cur.append(line)  # "Title\n-----" is a heading, not a rule
            self._emit(done)
            return
        if not indented and (_HEADING.match(line) or _THEMATIC.match(line)):
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

    def _open_fence(
        self, line: str, fence: re.Match[str], indented: bool, done: list[Block]
    ) -> None:
        nested = bool(self._cur) and self._kind == "list" and indented
        if not nested:
            self._emit(done)
            self._kind = "fence"
            self._lang = fence.group(3).strip().split(" ")[0].strip("{}.")
            self._fence_indent = len(fence.group(1).expandtabs(4))
        self._fence = fence.group(2)[0] * len(fence.group(2))
        self._fence_nested = nested
        self._fence_start = len(self._cur)
        self._cur.append(line)

    def _emit(self, done: list[Block], closing: str = "") -> None:
        if self._kind == "fence" and self._cur:
            self._emit_fence(done, closing)
        else:
            while self._cur and not self._cur[-1].strip():
                self._cur.pop()
            if self._cur:
                done.append(Block("\n".join(self._cur)))
        self._cur = []
        self._kind = ""
        self._fence = None
        self._fence_nested = False
        self._blank = False

    def _emit_fence(self, done: list[Block], closing: str) -> None:
        lines = self._cur[1:]
        if not closing:  # left open at the end: its trailing blank lines are not code
            while lines and not lines[-1].strip():
                lines.pop()
        source = "\n".join([*self._cur, closing] if closing else self._cur)
        code = tuple(self._dedent(line) for line in lines)
        done.append(Block(source, self._lang, code, self._taken_any, tuple(self._taken)))
        self._taken = []
        self._taken_any = False


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
    """The Markdown of each block of a finished text (tests, non-streamed replies)."""
    splitter = BlockSplitter()
    blocks = splitter.feed(text)
    blocks.extend(splitter.close())
    return [block.source for block in blocks]
