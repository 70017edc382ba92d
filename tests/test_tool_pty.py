"""Tool calls in the chat REPL on a real terminal: the consent question answered `y` and
`n`, and Ctrl-C while a tool runs."""

from __future__ import annotations

import json
import os
import time

import pexpect

from tests.conftest import spawn
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import WEATHER, declare, messages_valid

PROMPT = "›"


def test_a_call_confirmed_with_y_runs_and_one_declined_with_n_does_not(cli_env, server, home):
    declare(home, weather={"code": WEATHER})
    server.push(
        tool_reply(("a", "weather", '{"city": "Paris"}'), ("b", "weather", '{"city": "Rome"}')),
        text_reply("Paris is sunny; Rome I was not allowed to check."),
    )
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("/tools weather")  # offered mid-session: asked all the same
    child.expect_exact("tools offered: weather")
    child.expect_exact(PROMPT)
    child.sendline("weather in Paris and Rome?")
    child.expect_exact("→ weather {")  # the whole call, above the question
    child.expect_exact('"city": "Paris"')
    child.expect_exact("run weather? [y/N/a(lways this session)]")
    child.sendline("y")
    child.expect_exact("← weather: ok")
    child.expect_exact("→ weather {")  # the whole call, above the question
    child.expect_exact('"city": "Rome"')
    child.expect_exact("run weather? [y/N/a(lways this session)]")
    child.sendline("n")
    child.expect_exact("← weather: declined: weather was not run")
    child.expect_exact("Rome I was not allowed to check.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    messages = server.chat_bodies()[1]["messages"]
    assert messages[2]["content"] == "sunny in Paris\n"
    assert messages[3]["content"] == "declined: weather was not run: the user declined to run it"
    messages_valid(messages)


SLOW = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def test_ctrl_c_while_a_tool_runs_stops_its_group_and_keeps_the_repl(cli_env, server, home):
    pid_file = home / "tool.pid"
    declare(home, slow={"code": SLOW})
    config = home / "config" / "aimlchat" / "config.toml"
    # The pid file's path as the tool's argument (argv is fixed by config, never the model).
    config.write_text(config.read_text().replace('"]\n', f'", {json.dumps(str(pid_file))}]\n', 1))
    server.push(tool_reply(("s", "slow", "{}")))
    child = spawn(["chat", "-T", "slow", "--yes"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("run the slow tool")
    child.expect_exact("→ slow {}")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    tool_pid = int(pid_file.read_text())
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)
    time.sleep(0.2)
    try:
        os.kill(tool_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the tool's process survived Ctrl-C"
    child.sendline("still there?")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    messages = server.chat_bodies()[-1]["messages"]
    assert messages[2]["content"].startswith("interrupted: the user pressed Ctrl-C")
    messages_valid(messages)


def test_sigterm_while_a_tool_runs_stops_it_and_saves_the_round(cli_env, server, home):
    import signal
    import sqlite3
    import subprocess
    import sys

    pid_file = home / "tool.pid"
    declare(home, slow={"code": SLOW})
    config = home / "config" / "aimlchat" / "config.toml"
    config.write_text(config.read_text().replace('"]\n', f'", {json.dumps(str(pid_file))}]\n', 1))
    server.push(tool_reply(("s", "slow", "{}")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "-T", "slow", "--yes", "go"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    try:
        os.kill(int(pid_file.read_text()), 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    rows = db.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["user", "assistant", "tool"]
    assert "interrupted" in json.loads(rows[2][1])


def test_ctrl_c_at_the_question_of_ask_ends_the_line_it_was_on(cli_env, server, home):
    declare(home, weather={"code": WEATHER})
    server.push(tool_reply(("c", "weather", '{"city": "Paris"}')))
    child = spawn(["ask", "-T", "weather", "weather?"], cli_env)
    child.expect_exact("run weather? [y/N/a(lways this session)] ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    after = child.before  # what followed the question
    assert "← weather: interrupted" in after
    assert not after.lstrip("^C").startswith("←"), repr(after)  # on a line of its own
