"""The streaming renderer on a real pseudo-terminal, read as a terminal shows it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pexpect
import pyte
import pytest

from aimlchat.terminal.live import terminal_reflows
from tests.conftest import spawn
from tests.loopback import Reply, markdown_reply, sse_reply

# -- on a real pseudo-terminal, read as a terminal would show it -------------------------


class Screen:
    """A pyte screen fed by a child's output as it arrives."""

    def __init__(self, child: pexpect.spawn, rows: int = 30, cols: int = 100) -> None:
        self.child = child
        self.screen = pyte.HistoryScreen(cols, rows, history=5000)
        self.stream = pyte.Stream(self.screen)
        self.done = False

    def pump(self, until: str | None = None, quiet: float = 0.2, each=None) -> None:
        """Read until EOF, or until `until` is on screen and the child has gone quiet."""
        while not self.done:
            try:
                data = self.child.read_nonblocking(65536, timeout=quiet)
            except pexpect.TIMEOUT:
                if until is not None and until in "\n".join(self.screen.display):
                    return
                continue
            except pexpect.EOF:
                self.done = True
                return
            self.stream.feed(data)
            if each is not None:
                each(self)

    def resize(self, rows: int, cols: int) -> None:
        self.screen.resize(rows, cols)
        self.child.setwinsize(rows, cols)

    def history(self) -> list[str]:
        return ["".join(ch.data for ch in row.values()).rstrip() for row in self.screen.history.top]

    def rows(self) -> list[str]:
        return self.history() + [row.rstrip() for row in self.screen.display]


def _screen_after(child, rows=30, cols=100):
    screen = Screen(child, rows, cols)
    screen.pump()
    return screen.rows()


def test_reply_taller_than_the_screen_lands_in_scrollback_once(cli_env, server):
    text = markdown_reply(300)
    pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
    server.push(Reply(events=sse_reply(pieces), delay=0.001))
    lines = _screen_after(spawn(["ask", "hi"], cli_env))
    sections = [m for line in lines for m in re.findall(r"Section \d+", line)]
    expected = [f"Section {i}" for i in range(1, text.count("## Section") + 1)]
    assert sections == expected  # each exactly once, in order
    functions = [m for line in lines for m in re.findall(r"def f\d+", line)]
    assert functions == [f"def f{i}" for i in range(1, text.count("def f") + 1)]
    assert not any(line.strip() == "…" for line in lines)


def test_code_is_highlighted_on_a_terminal(cli_env, server):
    server.push(Reply(events=sse_reply(["```python\n", "def f(x):\n", "    return 1\n", "```\n"])))
    out = spawn(["ask", "hi"], cli_env).read()
    assert "def" in out and re.search(r"\x1b\[[0-9;]*38;[25];", out)  # coloured tokens


def _no_row_joins_two(pattern: str):
    def check(screen: Screen) -> None:
        for row in screen.screen.display:
            assert len(re.findall(pattern, row)) <= 1, f"lines joined on screen: {row!r}"

    return check


def test_tall_code_block_streams_as_lines_into_the_scrollback_once(cli_env, server):
    code = [f"line_{i} = {i} * 2  # comment number {i}" for i in range(1, 71)]
    text = "Here is the code:\n\n```python\n" + "\n".join(code) + "\n```\n\nDone.\n"
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    server.push(Reply(events=sse_reply(pieces), delay=0.003))
    screen = Screen(spawn(["ask", "hi"], cli_env))  # 30 rows
    printed_early: list[bool] = []

    def check(screen: Screen) -> None:
        _no_row_joins_two(r"line_\d+ =")(screen)
        ended = "Done." in "\n".join(screen.screen.display)
        if not ended and any(row.startswith("line_1 =") for row in screen.history()):
            printed_early.append(True)  # in the scrollback before the block ended

    screen.pump(each=check)
    rows = screen.rows()
    found = [int(n) for row in rows for n in re.findall(r"line_(\d+) =", row)]
    assert found == list(range(1, 71))  # every line once, in order
    assert all(row in code for row in rows if "line_" in row)  # at column 0, unbroken
    assert printed_early


def test_tall_table_streams_its_raw_rows_then_lands_laid_out_once(cli_env, server):
    rows = [f"| r_{i} | {i * 3} |" for i in range(1, 61)]
    text = "| name | value |\n|---|---|\n" + "\n".join(rows) + "\n\nAfter.\n"
    pieces = [text[i : i + 6] for i in range(0, len(text), 6)]
    server.push(Reply(events=sse_reply(pieces), delay=0.003))
    screen = Screen(spawn(["ask", "hi"], cli_env))
    screen.pump(each=_no_row_joins_two(r"r_\d+\b"))
    found = [int(n) for row in screen.rows() for n in re.findall(r"r_(\d+)\b", row)]
    assert found == list(range(1, 61))
    assert not any("|" in row for row in screen.rows())  # the final table, not raw lines


def _narrowing_reply() -> Reply:
    """Finished paragraphs, then a long one still streaming when the terminal narrows."""
    para = "A long paragraph " + " ".join(f"w{i}" for i in range(70))
    code = "\n".join(f"code_{i} = {i}" for i in range(8))
    pieces = [
        "".join(f"Intro {i}.\n\n" for i in range(12)),
        para,
        " tail words.\n\n```python\n",
        code + "\n```\n\nEnd.\n",
    ]
    return Reply(events=sse_reply(pieces), delay=0.6)  # the pauses leave time to resize


def _assert_shown_once(rows: list[str]) -> None:
    text = "\n".join(rows)
    assert text.count("A long paragraph") == 1 and text.count("w69") == 1, text
    assert [int(n) for n in re.findall(r"Intro (\d+)\.", text)] == list(range(12)), text
    assert [int(n) for n in re.findall(r"code_(\d+) =", text)] == list(range(8)), text


def test_narrowing_a_cutting_terminal_mid_stream_leaves_no_stale_copy(cli_env, server):
    # pyte, like xterm, cuts lines when narrowed rather than re-wrapping them.
    server.push(_narrowing_reply())
    screen = Screen(spawn(["ask", "hi"], {**cli_env, "XTERM_VERSION": "XTerm(390)"}))
    screen.pump(until="w69")
    screen.resize(30, 60)
    screen.pump()
    _assert_shown_once(screen.rows())


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_narrowing_a_rewrapping_terminal_mid_stream_leaves_no_stale_copy(cli_env, server):
    # tmux re-wraps lines when narrowed, as most terminals do.
    server.push(_narrowing_reply())
    env = {k: v for k, v in cli_env.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    tmux = ["tmux", "-L", f"aimlchat-test-{os.getpid()}", "-f", "/dev/null"]
    command = f"{shlex.quote(sys.executable)} -m aimlchat ask hi; echo __DONE__; sleep 60"
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "30", command], env=env)
    try:

        def pane(*args: str) -> str:
            shown = subprocess.run([*tmux, "capture-pane", "-p", *args], capture_output=True)
            return shown.stdout.decode()

        def wait_for(text: str) -> None:
            deadline = time.monotonic() + 15
            while text not in pane() and time.monotonic() < deadline:
                time.sleep(0.05)

        wait_for("w69")
        subprocess.run([*tmux, "resize-window", "-x", "60", "-y", "30"], check=True)
        wait_for("__DONE__")
        _assert_shown_once(pane("-J", "-S", "-").splitlines())  # -J: joined as written
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def test_reply_in_a_background_job_is_not_stopped_by_the_terminal(cli_env, server):
    shell = pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-i"],
        env={**cli_env, "PS1": "$ "},
        dimensions=(30, 100),
        timeout=15,
        encoding="utf-8",
    )
    shell.expect_exact("$ ")
    shell.sendline(f"{shlex.quote(sys.executable)} -m aimlchat ask hi & wait $!; echo rc=$?")
    shell.expect(r"rc=(\d+)")
    assert shell.match.group(1) == "0"  # 150 when SIGTTOU stopped it ("Stopped")
    assert "Hello from the loopback server." in shell.before
    shell.sendline("exit")
    shell.expect(pexpect.EOF)


@pytest.mark.parametrize(
    ("environ", "reflows"),
    [
        ({"TERM": "xterm-256color"}, True),
        ({"TERM": "screen-256color", "TMUX": "/tmp/tmux-1/default,1,0"}, True),
        ({"TERM": "xterm-256color", "XTERM_VERSION": "XTerm(390)"}, False),
        ({"TERM": "screen", "STY": "1.pts-0"}, False),
        ({"TERM": "linux"}, False),
    ],
)
def test_terminals_that_rewrap_on_narrowing_are_told_apart(environ, reflows):
    assert terminal_reflows(environ) is reflows
