"""Keys typed while a reply streams never answer a tool's consent question: in `ask` they
are thrown away before it is asked; in `chat` they come back at the next prompt.

Real terminals (pexpect): the reply is held at a gate, keys are typed and seen queued in
the terminal's input, then the reply goes on and asks for two calls."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from typing import Any

import pexpect

from tests.conftest import spawn
from tests.loopback import Gate, Reply
from tests.loopback_tools import text_reply, tool_call_events
from tests.test_tool_calls import WEATHER, declare, messages_valid

PROMPT = "›"
QUESTION = "run weather? [y/N/a(lways this session)]"
CALLS = [("a", "weather", '{"city": "Paris"}'), ("b", "weather", '{"city": "Rome"}')]


def wait_queued(child: Any, count: int) -> None:
    """Wait until the terminal holds `count` typed bytes not yet read by aimlchat."""
    slave = os.open(os.readlink(f"/proc/{child.pid}/fd/0"), os.O_RDONLY | os.O_NOCTTY)
    try:
        deadline = time.monotonic() + 10
        while True:
            raw = fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0")
            if struct.unpack("i", raw)[0] >= count:
                return
            assert time.monotonic() < deadline, "the typed keys never reached the terminal"
            time.sleep(0.01)
    finally:
        os.close(slave)


def held_tool_reply(gate: Gate) -> Reply:
    return Reply(events=tool_call_events(CALLS, text="Let me look that up."), gate=gate)


def answer_two_questions(child: Any) -> None:
    """The first question is answered `n` and the second `y`, each once it is shown: a
    `y` typed ahead that answered the first would show as the reverse."""
    child.expect_exact(QUESTION)
    child.send("n\r")
    child.expect_exact("← weather: declined")
    child.expect_exact(QUESTION)
    child.send("y\r")
    child.expect_exact("← weather: ok")


def tool_results(server: Any) -> list[str]:
    messages = server.chat_bodies()[1]["messages"]
    messages_valid(messages)
    return [m["content"] for m in messages if m["role"] == "tool"]


def test_ask_drops_a_y_typed_during_the_reply_before_asking(cli_env, server, home):
    declare(home, weather={"code": WEATHER})
    gate = Gate(at=1)  # after the reply's first words, before its calls
    server.push(held_tool_reply(gate), text_reply("Rome is sunny."))
    child = spawn(["ask", "-T", "weather", "weather in Paris and Rome?"], cli_env)
    gate.wait_reached()
    child.send("y\r")
    wait_queued(child, 2)
    gate.open()
    answer_two_questions(child)
    child.expect_exact("Rome is sunny.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    results = tool_results(server)
    assert results[0].startswith("declined: weather was not run: the user declined")
    assert results[1] == "sunny in Rome\n"


def test_chat_keeps_keys_typed_during_the_reply_for_the_next_prompt(cli_env, server, home):
    declare(home, weather={"code": WEATHER})
    gate = Gate(at=1)
    server.push(held_tool_reply(gate), text_reply("Rome is sunny."))
    child = spawn(["chat", "-T", "weather"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("weather in Paris and Rome?")
    gate.wait_reached()
    child.send("y\r")
    child.send("hello\r")
    wait_queued(child, len("y\nhello\n"))
    gate.open()
    answer_two_questions(child)
    child.expect_exact("Rome is sunny.")
    child.expect_exact(PROMPT)
    child.expect_exact("hello")  # back at the prompt, not sent: the user sees it first
    assert len(server.chat_bodies()) == 2
    child.send("\r")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    results = tool_results(server)
    assert results[0].startswith("declined: weather was not run: the user declined")
    assert results[1] == "sunny in Rome\n"
    last = server.chat_bodies()[-1]["messages"][-1]
    assert last == {"role": "user", "content": "y\nhello"}
