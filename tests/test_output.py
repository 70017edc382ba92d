"""stdout decided once: exact bytes to a pipe, sanitised text to a terminal, 141 when closed."""

from __future__ import annotations

import io
import os

import pytest

from aimlchat.errors import ExitCode, StdoutClosed
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output, PlainSink
from tests.conftest import invoke
from tests.loopback import Reply, sse_reply

NASTY = "title\x1b]0;PWNED\x07 clear\x1b[2J c1\x9b31m bidi\u202e end\n"


class _Stream(io.TextIOWrapper):
    def __init__(self, tty: bool) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _output(tty: bool) -> tuple[Output, io.BytesIO]:
    stream = _Stream(tty)
    env = Environment(stdin=io.StringIO(), stdout=stream, stderr=io.StringIO(), stdout_tty=tty)
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return Output(env), raw


def test_a_pipe_gets_the_models_bytes_exactly():
    out, raw = _output(tty=False)
    PlainSink(out).feed(NASTY)
    assert raw.getvalue() == NASTY.encode()


def test_a_terminal_never_gets_an_escape_sequence_from_data():
    out, raw = _output(tty=True)
    out.data(NASTY)
    shown = raw.getvalue().decode()
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "^[]0;PWNED^G" in shown and "<U+009B>" in shown


def test_our_own_control_sequences_reach_only_a_terminal():
    for tty, expected in ((True, b"\x1b]52;c;aGk=\x07"), (False, b"")):
        out, raw = _output(tty)
        out.control("\x1b]52;c;aGk=\x07")
        assert raw.getvalue() == expected


def test_a_closed_pipe_becomes_stdout_closed():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115
    out = Output(Environment(stdin=io.StringIO(), stdout=stream, stderr=io.StringIO()))
    with pytest.raises(StdoutClosed) as caught:
        out.data("x" * 70000)
    assert caught.value.exit_code == ExitCode.STDOUT_CLOSED
    stream.close = lambda: None  # type: ignore[method-assign]  # nothing left to flush


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_history_export_to_a_terminal_is_sanitised_and_to_a_pipe_exact(cli_env, server, fmt):
    server.push(Reply(events=sse_reply([NASTY])))
    assert invoke(["ask", "hi"], cli_env).returncode == 0
    shown = invoke(["history", "export", "1", "-f", fmt], cli_env, stdout_tty=True)
    assert shown.returncode == 0, shown.stderr
    assert b"\x1b" not in shown.stdout and b"PWNED" in shown.stdout
    if fmt == "md":
        piped = invoke(["history", "export", "1", "-f", fmt], cli_env)
        assert NASTY.encode() in piped.stdout
