"""The REPL: slash-command logic with prompt_toolkit's pipe input, behaviour in a real pty."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply

PROMPT = "›"


def start(cli_env, *args):
    child = spawn(["chat", *args], cli_env)
    child.expect_exact(PROMPT)
    return child


REPLY = "Hello from the loopback server."


def say(child, text, expect=REPLY):
    """Type a line; wait for what it should show, then for the next prompt."""
    child.sendline(text)
    child.expect_exact(expect)
    shown = child.before + child.after
    child.expect_exact(PROMPT)
    return shown


def test_two_turns_send_the_whole_conversation(cli_env, server):
    child = start(cli_env, "-s", "be brief")
    assert "Hello from the loopback server." in say(child, "first question")
    say(child, "second question")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "aimlchat chat --session 1" in child.before
    second = server.chat_bodies()[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == "Hello from the loopback server."


def test_retry_undo_and_set_reach_the_request(cli_env, server):
    child = start(cli_env)
    say(child, "q1")
    say(child, "/set temperature 0.2", "temperature = 0.2")
    say(child, "/retry")
    say(child, "/undo", "last exchange dropped")
    say(child, "/set temperature 9", "between 0 and 2")
    say(child, "q2")
    bodies = server.chat_bodies()
    assert bodies[1]["temperature"] == 0.2
    assert [m["content"] for m in bodies[1]["messages"]] == ["q1"]  # retry resends q1 only
    assert [m["content"] for m in bodies[2]["messages"]] == ["q2"]  # undo dropped q1
    say(child, "/nonsense", "not sent")
    assert len(server.chat_bodies()) == 3
    child.sendeof()
    child.expect(pexpect.EOF)


def test_ctrl_c_mid_stream_keeps_partial_and_next_turn_works(cli_env, server):
    words = [f"w{i} " for i in range(200)]
    server.push(Reply(events=sse_reply(words), delay=0.05))
    child = start(cli_env)
    child.sendline("slow please")
    child.expect_exact("w5")
    sent_at = time.monotonic()
    child.sendintr()
    child.expect_exact(PROMPT)
    back_after = time.monotonic() - sent_at
    print(f"Ctrl-C to prompt: {back_after * 1000:.0f} ms")
    out = say(child, "/history", "[interrupted]")
    assert "w5" in child.before + child.after or "w5" in out
    say(child, "again")
    child.sendeof()
    child.expect(pexpect.EOF)
    r = invoke(["history", "show"], cli_env)
    text = r.stdout.decode()
    assert "## assistant [interrupted]" in text and "w5" in text
    assert "Hello from the loopback server." in text


def test_ctrl_c_at_the_prompt_clears_the_line(cli_env, server):
    child = start(cli_env)
    child.send("half typed")
    child.expect_exact("typed")
    child.sendintr()
    child.expect_exact(PROMPT)
    say(child, "real")
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "real"
    child.sendeof()
    child.expect(pexpect.EOF)


def test_continue_after_restart_and_up_arrow_recalls_old_input(cli_env, server):
    child = start(cli_env)
    say(child, "remember this line")
    child.sendeof()
    child.expect(pexpect.EOF)
    child = start(cli_env, "--continue")
    assert "resumed 2 messages" in child.before
    child.expect_exact(REPLY)  # the last exchange is shown again,
    child.expect_exact(PROMPT)  # then the prompt
    child.send("\x1b[A")  # Up arrow
    child.expect_exact("remember this line")
    child.send("\r")
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)
    body = server.chat_bodies()[-1]
    assert [m["content"] for m in body["messages"]] == [
        "remember this line",
        "Hello from the loopback server.",
        "remember this line",
    ]
    child.sendeof()
    child.expect(pexpect.EOF)


def test_kill_9_mid_reply_keeps_every_earlier_message(cli_env, server):
    child = start(cli_env)
    say(child, "before the crash")
    server.push(Reply(events=sse_reply([f"x{i} " for i in range(500)]), delay=0.05))
    child.sendline("during the crash")
    child.expect_exact("x3")
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    r = invoke(["history", "show"], cli_env)
    text = r.stdout.decode()
    assert r.returncode == 0
    assert "before the crash" in text and "Hello from the loopback server." in text
    assert "during the crash" in text


def test_two_repls_writing_at_once_lose_nothing(cli_env, server):
    a = start(cli_env, "--session", "a")
    b = start(cli_env, "--session", "b")
    for i in range(5):
        say(a, f"a{i}")
        say(b, f"b{i}")
    for child in (a, b):
        child.sendeof()
        child.expect(pexpect.EOF)
    db = sqlite3.connect(Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db")
    rows = db.execute(
        "SELECT c.name, COUNT(*) FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id GROUP BY c.name"
    ).fetchall()
    assert dict(rows) == {"a": 10, "b": 10}


def test_chat_with_piped_stdin_exits_2_with_a_hint(cli_env, server):
    r = invoke(["chat"], cli_env, input="hello")
    assert r.returncode == 2 and "aimlchat ask" in r.stderr


def test_slash_commands_with_pipe_input(cli_env, server, monkeypatch):
    """The REPL loop itself, driven through prompt_toolkit's pipe input."""
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.chat.session import Chat
    from aimlchat.chat.transcript import TurnSettings
    from aimlchat.commands.repl import Repl, loop, make_prompt_session
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(no_history=True), env)
    chat = Chat(app.client(), TurnSettings(model=app.model), store=None, warn=app.notifier.warn)
    repl = Repl(app, chat, out.write)
    with create_pipe_input() as pipe:
        pipe.send_text("/set max-tokens 5\rhello\r/model other/model\r/usage\r/exit\r")
        loop(repl, make_prompt_session(app, input=pipe, output=DummyOutput()))
    body = server.chat_bodies()[0]
    assert body["max_tokens"] == 5 and body["messages"][-1]["content"] == "hello"
    assert repl.chat.settings.model == "other/model"
    assert "1 reply · 10 prompt + 5 completion" in out.getvalue()


def test_multiline_input_with_escape_enter(cli_env, server):
    child = start(cli_env)
    child.send("line one")
    child.send("\x1b\r")
    child.send("line two\r")
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "line one\nline two"
    child.sendeof()
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("paste", ["\x1b[200~para one\npara two\x1b[201~\r"])
def test_bracketed_paste_stays_one_message(cli_env, server, paste):
    child = start(cli_env)
    child.send(paste)
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "para one\npara two"
    child.sendeof()
    child.expect(pexpect.EOF)


def test_copy_sequence_reaches_the_terminal(cli_env, server):
    import base64

    child = start(cli_env)
    say(child, "hi")
    child.sendline("/copy")
    child.expect_exact("\x1b]52;c;" + base64.b64encode(REPLY.encode()).decode() + "\x07")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)


def test_image_save_and_load(cli_env, server, tmp_path):
    from tests.test_ecosystem import PNG

    photo = tmp_path / "p.png"
    photo.write_bytes(PNG)
    child = start(cli_env)
    say(child, f"/image {photo}", "image attached")
    say(child, "describe")
    content = server.chat_bodies()[0]["messages"][-1]["content"]
    assert content[0]["text"] == "describe" and content[1]["type"] == "image_url"
    say(child, "/save mywork", "saved as")
    say(child, "/clear", "new conversation")
    say(child, "other")
    child.sendline("/load mywork")
    child.expect_exact("loaded conversation")
    child.expect_exact(REPLY)  # the last exchange is shown again,
    child.expect_exact(PROMPT)  # then the prompt
    say(child, "more")
    roles = [m["role"] for m in server.chat_bodies()[-1]["messages"]]
    assert roles == ["user", "assistant", "user"]
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "chat --session mywork" in child.before


def test_edit_sends_what_the_editor_wrote(cli_env, server, tmp_path):
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nprintf "from the editor\\nline 2" > "$1"\n')
    editor.chmod(0o755)
    child = start({**cli_env, "EDITOR": str(editor)})
    say(child, "/edit")
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "from the editor\nline 2"
    child.sendeof()
    child.expect(pexpect.EOF)


def test_ctrl_c_before_the_first_byte_puts_the_message_back(cli_env, server):
    server.push(Reply(events=sse_reply(["late"]), header_delay=3))
    child = start(cli_env)
    child.sendline("please keep me")
    time.sleep(0.5)
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact("please keep me")  # back in the input line, ready to resend
    child.send("\r")
    child.expect_exact(REPLY)
    bodies = server.chat_bodies()
    assert [m["content"] for m in bodies[-1]["messages"]] == ["please keep me"]
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)


def test_tab_completes_slash_commands(cli_env, server):
    child = start(cli_env)
    child.send("/his")
    child.expect_exact("show this conversation")  # the completion menu is up
    child.send("\t")
    child.expect_exact("tory")
    child.send("\r")
    child.expect_exact("no messages yet")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
