"""The streaming renderer: same picture as a whole render, linear, safe, screen-proof."""

from __future__ import annotations

import io
import re

import pyte
from rich.console import Console
from rich.markdown import Markdown

from aimlchat.terminal.render import MarkdownSink
from tests.conftest import spawn
from tests.loopback import Reply, markdown_reply, sse_reply


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_streamed_render_matches_a_whole_render_but_for_blank_lines():
    text = markdown_reply(120) + "1. one\n2. two\n\n> quoted\n\nend"
    whole = io.StringIO()
    Console(file=whole, width=70, color_system=None).print(Markdown(text, hyperlinks=False))
    out = io.StringIO()
    sink = MarkdownSink(out, color=False, code_theme="monokai", live=False)
    sink.console = Console(file=out, width=70, color_system=None)
    for i in range(0, len(text), 5):
        sink.feed(text[i : i + 5])
    sink.finish()
    assert _lines(out.getvalue()) == _lines(whole.getvalue())


def test_model_text_cannot_use_rich_markup():
    out = io.StringIO()
    sink = MarkdownSink(out, color=True, code_theme="monokai", live=False)
    sink.console = Console(file=out, width=70, force_terminal=True)
    sink.feed("[bold red]x[/] and [link=http://e]y[/link]\n")
    sink.finish()
    assert "[bold red]x[/]" in out.getvalue() and "\x1b]8" not in out.getvalue()


def _screen_after(child, rows=30, cols=100, history=5000):
    screen = pyte.HistoryScreen(cols, rows, history=history)
    stream = pyte.Stream(screen)
    stream.feed(child.read())
    top = ["".join(ch.data for ch in line.values()).rstrip() for line in screen.history.top]
    return top + [line.rstrip() for line in screen.display]


def test_reply_taller_than_the_screen_lands_in_scrollback_once(cli_env, server):
    text = markdown_reply(300)
    pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
    server.push(Reply(events=sse_reply(pieces), delay=0.001))
    child = spawn(["ask", "hi"], cli_env)
    lines = _screen_after(child)
    sections = [m for line in lines for m in re.findall(r"Section \d+", line)]
    expected = [f"Section {i}" for i in range(1, text.count("## Section") + 1)]
    assert sections == expected  # each exactly once, in order
    functions = [m for line in lines for m in re.findall(r"def f\d+", line)]
    assert functions == [f"def f{i}" for i in range(1, text.count("def f") + 1)]
    assert not any(line.strip() == "…" for line in lines)


def test_code_is_highlighted_on_a_terminal(cli_env, server):
    server.push(Reply(events=sse_reply(["```python\n", "def f(x):\n", "    return 1\n", "```\n"])))
    child = spawn(["ask", "hi"], cli_env)
    out = child.read()
    assert "def" in out and re.search(r"\x1b\[[0-9;]*38;[25];", out)  # coloured tokens
