"""SIGTERM and SIGHUP end `chat` at any of its prompts, not only the main one: at the
tool-consent question too, with 143 or 129, never "Unhandled exception in event loop"
and a process only SIGKILL ends. Real terminals (pexpect)."""

from __future__ import annotations

import signal

import pexpect
import pytest

from tests.conftest import spawn
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import WEATHER, declare

PROMPT = "›"
QUESTION = "run weather? [y/N/a(lways this session)]"


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["TERM", "HUP"]
)
def test_a_signal_at_the_consent_question_ends_chat(cli_env, server, home, signum, status):
    declare(home, weather={"code": WEATHER})
    server.push(tool_reply(("a", "weather", '{"city": "Paris"}')), text_reply("Sunny."))
    child = spawn(["chat", "-T", "weather"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("weather in Paris?")
    child.expect_exact(QUESTION)
    for _ in range(20):  # prompt_toolkit busy in its own callbacks as the signal lands
        child.send("x" * 100)
    child.expect_exact("xxxxx")
    child.kill(signum)
    index = child.expect([pexpect.EOF, "Unhandled exception", pexpect.TIMEOUT], timeout=10)
    seen = child.before
    if index != 0:  # stuck: the test must not leave it behind
        child.kill(signal.SIGKILL)
        child.close()
    assert index == 0, f"stuck at the consent question: {seen!r}"
    child.close()
    assert child.exitstatus == status, seen
    assert "Unhandled exception" not in seen
