"""The parts behind the daily moves: spinner, clipboard, templates, `cmd` prompts."""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import pytest

from aimlchat.chat.shellcmd import command_from, system_prompt
from aimlchat.chat.template import fill, names, parse_vars
from aimlchat.errors import UsageError
from aimlchat.terminal.clipboard import copy
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output
from aimlchat.terminal.spinner import ERASE, FRAMES, Spinner, SpinnerSink
from tests.conftest import invoke
from tests.loopback import Reply, sse_reply


class _Recorder:
    def __init__(self) -> None:
        self.fed: list[str] = []
        self.finished = False

    def feed(self, text: str) -> None:
        self.fed.append(text)

    def finish(self, *, interrupted: bool = False) -> None:
        self.finished = True


class _Slow(io.StringIO):
    """A stream that tells the test when the spinner has drawn a few frames."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = threading.Semaphore(0)

    def write(self, s: str) -> int:
        if "waiting" in s or "retrying" in s:
            self.frames.release()
        return super().write(s)


def test_spinner_draws_until_the_first_token_then_erases_itself():
    stream = _Slow()
    spinner = Spinner(stream, enabled=True)
    sink = _Recorder()
    spinner.start()
    assert stream.frames.acquire(timeout=5)
    spinner.note("HTTP 429; retrying in 2.0s (1/2)")
    assert stream.frames.acquire(timeout=5)
    SpinnerSink(sink, spinner).feed("first")
    drawn = stream.getvalue()
    assert re.search(rf"[{FRAMES}] waiting \d+\.\d s", drawn)  # the seconds so far, 1 decimal
    assert re.search(rf"[{FRAMES}] HTTP 429; retrying in 2\.0s \(1/2\) \d+\.\d s", drawn)
    assert drawn.endswith(ERASE) and not spinner.active
    assert sink.fed == ["first"]
    assert stream.getvalue() == drawn  # nothing more once the reply has started


@pytest.mark.parametrize("stderr_tty", [False, True])
def test_the_spinner_is_drawn_only_when_stderr_is_a_terminal(cli_env, server, stderr_tty):
    # The first token waits long past the spinner's first frame (0.2 s): a terminal sees
    # frames (the control, so this test can fail), a pipe sees nothing at all.
    server.push(Reply(events=sse_reply(["Hello."]), first_delay=1.0))
    result = invoke(["ask", "hi"], {**cli_env, "TERM": "xterm"}, stderr_tty=stderr_tty)
    assert result.returncode == 0 and result.stdout == b"Hello.\n"
    frame = re.search(rf"[{FRAMES}] waiting \d+\.\d s", result.stderr)
    if stderr_tty:
        assert frame and result.stderr.endswith(ERASE)
    else:
        assert result.stderr == ""


def _out(tty: bool) -> tuple[Output, io.StringIO]:
    stream = io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=stream, stderr=io.StringIO(), stdout_tty=tty)
    return Output(env), stream


def test_clipboard_uses_osc52_on_a_terminal_and_the_native_tool_with_a_display(tmp_path):
    log = tmp_path / "copied"
    tool = tmp_path / "xclip"
    tool.write_text(f'#!/bin/sh\ncat > "{log}"\n')
    tool.chmod(0o755)
    out, stream = _out(tty=True)
    env = {"DISPLAY": ":0", "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    old_path = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]  # shutil.which reads the process PATH
    try:
        ways = copy("ls -l\n", out, env)
    finally:
        os.environ["PATH"] = old_path
    assert ways == ["OSC 52", "xclip"]
    assert stream.getvalue() == "\x1b]52;c;bHMgLWwK\x07"
    assert log.read_text() == "ls -l\n"


def test_clipboard_on_a_pipe_without_a_display_finds_no_way():
    out, stream = _out(tty=False)
    assert copy("x", out, {}) == [] and stream.getvalue() == ""


def test_template_variables_are_filled_and_a_missing_one_is_named():
    values = parse_vars(["lang=French", "tone= formal"])
    assert fill("Translate to {{lang}}, {{ tone }}.", values) == "Translate to French,  formal."
    assert names("{{a}} {{b}} {{a}}") == ["a", "b"]
    with pytest.raises(UsageError, match="needs topic") as caught:
        fill("About {{topic}}", {})
    assert caught.value.hint == "give a value with -v topic=…"
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_vars(["novalue"])


def test_cmd_prompt_names_os_shell_and_directory():
    text = system_prompt({"SHELL": "/usr/bin/zsh"}, Path("/srv/app"))
    assert "/usr/bin/zsh (zsh)" in text and "/srv/app" in text and "Operating system" in text


@pytest.mark.parametrize(
    ("reply", "command"),
    [
        ("find . -size +100M -mtime -7", "find . -size +100M -mtime -7"),
        ("```bash\n$ du -sh * | sort -h\n```", "du -sh * | sort -h"),
        ("  ls -la  \n", "ls -la"),
    ],
)
def test_the_command_is_read_back_without_fences_or_prompts(reply, command):
    assert command_from(reply, bare=True) == command  # bare lines: the terminal's menu
