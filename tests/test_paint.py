"""Rows for the terminal: the same picture streamed or whole, rich's look, copy-clean, safe."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.markdown import Markdown
from rich.segment import Segment
from rich.style import Style

from aimlchat.terminal.paint import _row
from aimlchat.terminal.render import MarkdownSink
from aimlchat.terminal.simple import simple_lines
from tests.loopback import markdown_reply

SGR_OR_ERASE = re.compile(r"\x1b\[[0-9;]*[mK]")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _render(text: str, *, width: int = 70, color: bool = False, piece: int = 0) -> str:
    out = io.StringIO()
    sink = MarkdownSink(out, color=color, code_theme="monokai", live=False, width=width)
    for i in range(0, len(text), piece or len(text)):
        sink.feed(text[i : i + (piece or len(text))])
    sink.finish()
    return out.getvalue()


def test_streamed_render_matches_a_whole_render():
    text = markdown_reply(120) + "1. one\n2. two\n\n> quoted\n\nend"
    assert _render(text, piece=5) == _render(text)
    whole = io.StringIO()
    Console(file=whole, width=70, color_system=None).print(Markdown(text, hyperlinks=False))
    assert _lines(_render(text, piece=5)) == _lines(whole.getvalue())  # rich's picture


def test_model_text_cannot_use_rich_markup():
    out = _render("[bold red]x[/] and [link=http://e]y[/link]\n", color=True)
    assert "[bold red]x[/]" in out and "\x1b]8" not in out


def test_escape_sequences_in_code_and_tables_are_shown_not_obeyed():
    text = "```sh\necho \x1b]52;c;ZXZpbA==\x07 \x1b[2J\n```\n\n| a |\n|---|\n| \x1b[31mred |\n"
    out = _render(text, color=True)
    assert "\x1b]52" not in out and "\x1b[2J" not in out
    visible = SGR_OR_ERASE.sub("", out)
    assert "^[]52;c;ZXZpbA==^G" in visible and "^[[31mred" in visible


def test_code_is_copy_clean_without_colour():
    long_line = "s = '" + "a" * 200 + "'"
    text = f"Intro\n\n```python\nx = 1\n\tif x:\n{long_line}\n```\n\n- item\n"
    assert _render(text, width=60).split("\n") == [
        "Intro",
        "",
        "x = 1",
        "    if x:",
        long_line,  # one line, no newline put in: the terminal soft-wraps it
        "",
        " • item",
        "",
    ]


def test_code_is_copy_clean_in_colour_with_its_background_to_the_edge():
    long_line = "s = '" + "a" * 200 + "'"
    prose = "Some text that is long enough to wrap at sixty columns, twice over, yes."
    text = f"{prose}\n\n```python\nx = 1\n{long_line}\n```\n"
    out = _render(text, width=60, color=True)
    visible = SGR_OR_ERASE.sub("", out).split("\n")
    assert all(line == line.rstrip() for line in visible)
    assert "x = 1" in visible and long_line in visible  # column 0, unbroken
    code_rows = [
        row for row in out.split("\n") if SGR_OR_ERASE.sub("", row) in ("x = 1", long_line)
    ]
    assert len(code_rows) == 2 and all(row.endswith("\x1b[K\x1b[0m") for row in code_rows)


SIMPLE = [
    "## Section 1",
    "# Title",
    "### Deep **bold** `x` here",
    "## A heading long enough to wrap around at forty columns for sure",
    "Paragraph 1 explains **something** with `code`.",
    "Two\nlines here",
    "**Note:** the thing",
    "a**b**c",
    "` padded ` and `x` and 100% sure (approx.) at http://example.com/?x=1",
    "A long paragraph " + " ".join(f"word{i}" for i in range(60)),
    "日本語のテキスト" * 12 + " and emoji 🎉",
    "3) third\n4) fourth",
    "- a\n- b",
    "9. nine\n10. ten",
    "1. **Step one**: do `this` " + "and more words " * 8 + "end",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "| a | **bb** | c |\n|:-|-:|:-:|\n| 1 | 2 | `x` |\n| long cell | y | z |",
    "| a | b |\n|---|---|\n|  | 2 |",
]
NOT_SIMPLE = [
    "#hashtag",
    "## Closing ##",
    "snake_case and *em*",
    "<b>html</b> & [link](http://x) ~~s~~ a\\b",
    "+ a\n- b",
    "- nested\n  - deeper",
    "- a\n\n- b",
    "Para\n- list",
    "Title\n===",
    "**a _b_ c**",
    "**a.**b",
    "| a | b |\n|---|\n| 1 | 2 |",
    "| " + " | ".join(f"column{i}" for i in range(12)) + " |\n|" + "---|" * 12,
]


def _visual(lines):
    """What a terminal shows: each cell's character and style, trailing blanks dropped."""
    rows = []
    for line in lines:
        row = _row(line)
        cells = [(ch, seg.style or Style.null()) for seg in row.segments for ch in seg.text]
        if cells or (rows and rows[-1]):
            rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()
    return rows


@pytest.mark.parametrize("width", [40, 100])
def test_simple_blocks_look_exactly_as_rich_lays_them_out(width):
    console = Console(
        file=io.StringIO(), width=width, color_system="truecolor", force_terminal=True
    )
    options = console.options.update(width=width, height=None)
    for source in SIMPLE + NOT_SIMPLE:
        ours = simple_lines(source, console, width)
        assert (ours is not None) == (source in SIMPLE), source
        if ours is not None:
            document = Markdown(source, hyperlinks=False)
            theirs = Segment.split_lines(console.render(document, options))
            assert _visual(ours) == _visual(theirs), source


def test_code_printed_in_parts_is_highlighted_as_if_whole():
    from aimlchat.terminal.paint import Painter

    console = Console(file=io.StringIO(), width=80, color_system="truecolor", force_terminal=True)
    painter = Painter(console, "monokai")
    code = ['s = """a docstring', "that goes on", 'and ends"""', "x = 1"]
    whole = painter.code(code, "python")
    parts = painter.code(code[:2], "python") + painter.code(code[2:], "python", code[:2])
    assert parts == whole  # the second part knows it starts inside a string


def test_live_region_erases_the_rows_the_terminal_shows_after_narrowing():
    from aimlchat.terminal.live import LiveRegion

    written: list[str] = []
    for reflow, up in ((True, 5), (False, 3)):
        region = LiveRegion(written.append, reflow=reflow)
        region.update([], [("a" * 90, 90), ("", 0), ("b" * 130, 100)], 100)
        region.update(["done"], [], 60)  # narrowed to 60: 90 and 100 cells take 2 rows each
        assert written[-1].startswith(f"\r\x1b[{up}A\x1b[2K")
