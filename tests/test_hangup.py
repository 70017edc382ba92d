"""SIGHUP (the terminal window closed, ssh dropped) ends every command as SIGTERM does:
the partial reply saved as interrupted, a running tool's process group stopped, the
tool round answered in history, exit 129.

The terminal really goes away here: the test closes the pty's master side and the kernel
sends the SIGHUP, so every later write to the terminal fails as it would for a user."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, spawn
from tests.loopback import Gate, Reply, sse_reply
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import declare, messages_valid

PROMPT = "›"
SLOW = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def hang_up(child: Any) -> int:
    """Close the terminal as a closed window does; the process's exit status."""
    child.ptyproc.fileobj.close()  # the master side: the kernel hangs up the session
    deadline = time.monotonic() + 20
    while True:
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid:
            child.ptyproc.terminated = True
            child.ptyproc.closed = True
            return os.waitstatus_to_exitcode(status)
        assert time.monotonic() < deadline, "aimlchat outlived its terminal"
        time.sleep(0.02)


def rows(home: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    try:
        return db.execute("SELECT role, content, status FROM messages ORDER BY id").fetchall()
    finally:
        db.close()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def partial_reply(gate: Gate) -> Reply:
    words = ["The partial ", "answer ", "so far.\n\n", "The rest ", "never comes."]
    return Reply(events=sse_reply(words), gate=gate)


@pytest.mark.parametrize("command", [["ask", "tell me"], ["chat", "tell me"]])
def test_closing_the_terminal_mid_reply_saves_it_as_interrupted_and_exits_129(
    cli_env, server, home, command
):
    gate = Gate(at=3)
    server.push(partial_reply(gate))
    child = spawn(command, cli_env)
    gate.wait_reached()
    child.expect_exact("so far.")  # the client has the partial reply
    status = hang_up(child)
    gate.open()
    assert status == 129
    saved = rows(home)
    assert [(r[0], r[2]) for r in saved] == [("user", "ok"), ("assistant", "interrupted")]
    assert "The partial answer so far." in json.loads(saved[1][1])
    shown = run_cli(["history", "show"], cli_env)
    assert "The partial answer so far." in shown.stdout.decode()
    assert "interrupted" in shown.stdout.decode() + shown.stderr.decode()


def test_sighup_at_the_chat_prompt_exits_129(cli_env, server):
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    assert hang_up(child) == 129


def _slow_tool(home: Path) -> Path:
    pid_file = home / "tool.pid"
    declare(home, slow={"code": SLOW})
    config = home / "config" / "aimlchat" / "config.toml"
    # The pid file's path as the tool's argument (argv is fixed by config, never the model).
    config.write_text(config.read_text().replace('"]\n', f'", {json.dumps(str(pid_file))}]\n', 1))
    return pid_file


def _started(pid_file: Path) -> int:
    deadline = time.monotonic() + 15
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.02)
    return int(pid_file.read_text())


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_closing_the_terminal_while_a_tool_runs_kills_its_group_and_answers_the_round(
    cli_env, server, home, command
):
    pid_file = _slow_tool(home)
    server.push(tool_reply(("s1", "slow", "{}"), ("s2", "slow", "{}")))
    child = spawn([command, "-T", "slow", "--yes", "run the slow tool"], cli_env)
    tool_pid = _started(pid_file)
    assert hang_up(child) == 129
    assert gone(tool_pid), "the tool outlived the terminal"
    saved = rows(home)
    assert [r[0] for r in saved] == ["user", "assistant", "tool", "tool"]
    results = [json.loads(r[1]) for r in saved[2:]]
    assert all("SIGHUP" in text for text in results), results
    # The next request is one a strict API accepts: every call answered.
    server.push(text_reply("Carrying on."))
    r = run_cli(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = server.chat_bodies()[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    messages_valid(sent)


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_closing_the_terminal_at_the_consent_question_answers_every_call(
    cli_env, server, home, command
):
    """The read of the question fails (EIO) as the hangup arrives: the round's calls are
    still answered in history, so the next request is one a strict API accepts."""
    pid_file = _slow_tool(home)
    server.push(tool_reply(("s1", "slow", "{}"), ("s2", "slow", "{}")))
    child = spawn([command, "-T", "slow", "run the slow tool"], cli_env)
    child.expect(r"run slow\?")
    assert hang_up(child) == 129
    assert not pid_file.exists(), "the tool ran without an answer"
    saved = rows(home)
    assert [r[0] for r in saved] == ["user", "assistant", "tool", "tool"], saved
    # The model is told the truth: stopped at the question, the tool never started.
    assert all("slow was not run" in json.loads(r[1]) for r in saved[2:]), saved
    server.push(text_reply("Carrying on."))
    r = run_cli(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    assert b"cut off by a stopped process" not in r.stderr  # nothing needed mending
    messages_valid(server.chat_bodies()[-1]["messages"])
