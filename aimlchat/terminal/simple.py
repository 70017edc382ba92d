"""Markdown blocks simple enough to lay out without a parser, exactly as rich would.

Most of a long reply is plain blocks: a heading, a paragraph with a few `**strong**`
words and `code` spans, a tight list, a small table. Parsing them with markdown-it and
laying them out through rich's Markdown elements was two thirds of the time spent
rendering; here they become the same rich `Text` rich would build and are laid out
as rich lays it out, at a third of the cost. Anything else (links, emphasis with `_`
or `*`, escapes, HTML, nesting, loose lists, a table too wide to fit) returns None and
takes the general path. A test holds both paths side by side on the same blocks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, JustifyMethod

Lines = list[list[Segment]]

_HEADING = re.compile(r"(#{1,6})[ \t]+(\S.*)")
_BULLET = re.compile(r"([-*+]) (\S.*)")
_NUMBERED = re.compile(r"(\d{1,9})([.)]) (\S.*)")
_DELIMITER = re.compile(r"\|(?:[ \t]*:?-+:?[ \t]*\|)+")
_CODE_SPAN = re.compile(r"(`[^`]+`)")
# **strong** whose delimiters CommonMark takes as such wherever they stand: the text
# inside starts with a letter or digit and ends with one, or ends with punctuation
# before a space, punctuation or the end ("**Note:** …").
_STRONG = re.compile(r"\*\*(\w(?:[^*]*\w)?)\*\*|\*\*(\w[^*]*[^\w\s*])\*\*(?!\w)")
# Outside code spans and **strong**, any of these may mean Markdown: not simple.
_SPECIAL = re.compile(r"[\\<>\[\]&~_*`|\t]")
# A line that could open another kind of block, were it inside a paragraph or an item.
_BLOCK_START = re.compile(r"[#>=|]|[-*+](\s|$)|[-*_]{3}|`{3}|~{3}|\d{1,9}[.)](\s|$)")
_ALIGN: dict[str, JustifyMethod] = {"::": "center", ":-": "left", "-:": "right"}


def simple_lines(source: str, console: Console, width: int) -> Lines | None:
    """The block laid out as rich lays it out, or None if it is not a simple block."""
    lines = source.split("\n")
    if any(not line or line != line.strip() for line in lines):
        return None  # blank or indented lines, trailing spaces (hard breaks): not simple
    first = lines[0]
    if first.startswith("#"):
        return _heading(first, console, width) if len(lines) == 1 else None
    if first.startswith("|"):
        return _table(lines, console, width)
    if _BULLET.fullmatch(first) or _NUMBERED.fullmatch(first):
        return _list(lines, console, width)
    if any(_BLOCK_START.match(line) for line in lines):
        return None
    text = _paragraph(lines, console, Style.null())
    return None if text is None else _wrap(text, console, width)


def table_lines(console: Console, grid: list[list[Text]], width: int) -> Lines | None:
    """A table whose cells fit on one line each, as rich's Markdown table lays it out."""
    header = grid[0]
    if any(len(row) != len(header) for row in grid):
        return None
    if any(text.style or "\n" in text.plain for row in grid for text in row):
        return None
    widths = [max(cell_len(row[i].plain) for row in grid) for i in range(len(header))]
    total = sum(widths) + 2 * len(widths)
    if 0 in widths or total > width:
        return None
    border = console.get_style("markdown.table.border")
    edge = Segment(" ", border)
    out = [[Segment(" " * total, border)]]
    for index, row in enumerate(grid):
        style = console.get_style("table.header") if index == 0 else Style.null()
        line = [edge]
        for column, (text, cells) in enumerate(zip(row, widths, strict=True)):
            if column:
                line += [Segment(" ", style), edge]
            line += Segment.apply_style(_justified(text, cells, console), style)
        out.append([*line, edge])
        if index == 0:
            out.append([Segment(" " + "─" * (total - 2) + " ", border)])
    return [*out, out[0]]


def _justified(text: Text, width: int, console: Console) -> list[Segment]:
    """A table cell's one line, justified in its column as rich justifies it."""
    space = width - cell_len(text.plain)
    left = {"right": space, "center": space // 2}.get(str(text.justify), 0)
    segments = list(text.render(console))
    if left:
        segments.insert(0, Segment(" " * left))
    if space - left:
        segments.append(Segment(" " * (space - left)))
    return segments


def _heading(line: str, console: Console, width: int) -> Lines | None:
    match = _HEADING.fullmatch(line)
    if match is None or match.group(2).endswith("#"):
        return None
    level = len(match.group(1))
    style = console.get_style(f"markdown.h{level}")
    text = _paragraph([match.group(2)], console, style)
    if text is None:
        return None
    text.justify = "center" if level == 1 else "left"
    return _wrap(text, console, width)


def _list(lines: list[str], console: Console, width: int) -> Lines | None:
    bullets = [_BULLET.fullmatch(line) for line in lines]
    if all(bullets):
        marks = {match.group(1) for match in bullets if match}
        items = [match.group(2) for match in bullets if match]
        number_width = 3
        labels = [" • "] * len(items)
        style = console.get_style("markdown.item.bullet", default="none")
    else:
        numbered = [_NUMBERED.fullmatch(line) for line in lines]
        if not all(numbered):
            return None
        marks = {match.group(2) for match in numbered if match}
        items = [match.group(3) for match in numbered if match]
        start = int(numbered[0].group(1)) if numbered[0] else 1
        number_width = len(str(start + len(items))) + 2
        labels = [f"{start + i}".rjust(number_width - 1) + " " for i in range(len(items))]
        style = console.get_style("markdown.item.number", default="none")
    if len(marks) != 1 or any(_BLOCK_START.match(item) for item in items):
        return None
    out: Lines = []
    for label, item in zip(labels, items, strict=True):
        text = _paragraph([item], console, Style.null())
        if text is None:
            return None
        for first, line in enumerate(_wrap(text, console, width - number_width)):
            out.append([Segment(label if first == 0 else " " * number_width, style), *line])
    return out


def _table(lines: list[str], console: Console, width: int) -> Lines | None:
    if len(lines) < 2 or not _DELIMITER.fullmatch(lines[1]):
        return None
    if any(not (line.startswith("|") and line.endswith("|")) for line in lines):
        return None
    aligns = [cell.strip() for cell in lines[1][1:-1].split("|")]
    justify = [_ALIGN.get(a[0] + a[-1], "default") if len(a) > 1 else "default" for a in aligns]
    grid: list[list[Text]] = []
    for index, line in enumerate([lines[0], *lines[2:]]):
        cells = [cell.strip() for cell in line[1:-1].split("|")]
        if len(cells) != len(aligns):
            return None
        row = []
        for cell, how in zip(cells, justify, strict=True):
            text = _paragraph([cell], console, Style.null(), how) if cell else Text(justify=how)
            if text is None:
                return None
            if index == 0:
                text.stylize("markdown.table.header")
            row.append(text)
        grid.append(row)
    return table_lines(console, grid, width)


def _paragraph(
    lines: list[str], console: Console, base: Style, justify: JustifyMethod = "left"
) -> Text | None:
    """The lines' inline content as rich's Markdown builds it, or None if not simple."""
    text = Text(justify=justify)
    code = console.get_style("markdown.code")
    strong = console.get_style("markdown.strong")
    for number, line in enumerate(lines):
        if number:
            text.append(" ", base)  # a soft line break
        for index, part in enumerate(_CODE_SPAN.split(line)):
            if index % 2:
                inner = part[1:-1]
                if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
                    inner = inner[1:-1]
                text.append(inner, base + code)
            elif not _inline(text, part, base, base + strong):
                return None
    return text


def _inline(text: Text, part: str, base: Style, strong: Style) -> bool:
    pieces: list[tuple[str, Style]] = []
    start = 0
    for match in _STRONG.finditer(part):
        pieces += [(part[start : match.start()], base), (match[1] or match[2], strong)]
        start = match.end()
    pieces.append((part[start:], base))
    if any(_SPECIAL.search(piece) for piece, _ in pieces):
        return False
    for piece, style in pieces:
        text.append(piece, style)
    return True


def _wrap(text: Text, console: Console, width: int) -> Lines:
    return [list(line.render(console)) for line in text.wrap(console, width, justify=text.justify)]
