"""Loading a conversation mends what a killed process left, so `--continue` is accepted by
a strict API: tool calls without results get "interrupted" results, and a message that got
no reply does not make two user messages in a row. Loopback server, real store rows."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from aimlchat.chat.repair import INTERRUPTED_RESULT
from aimlchat.messages import ToolCall, assistant, tool_output, user
from aimlchat.storage.store import Store
from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply
from tests.loopback_tools import text_reply


def call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": "{}"}}


def stored(call_id: str) -> ToolCall:
    return ToolCall(call_id, "weather", "{}")


def history(home: Path) -> Store:
    return Store(home / "data" / "aimlchat" / "history.db")


def interrupted(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": INTERRUPTED_RESULT}


def continue_with_next(cli_env: dict[str, str], server: LoopbackServer) -> list[dict[str, Any]]:
    server.push(text_reply("ok"))
    r = invoke(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    messages: list[dict[str, Any]] = server.chat_bodies()[-1]["messages"]
    return messages


def test_tool_calls_without_results_get_interrupted_results_on_continue(cli_env, server, home):
    store = history(home)
    cid = store.create(model="meta-llama/llama-4-scout", system=None)
    store.add(cid, user("weather in two cities?"))
    store.add(cid, assistant("", calls=[stored("c1"), stored("c2")]))
    store.add(cid, tool_output("c1", "sunny"))  # killed while c2 ran
    assert continue_with_next(cli_env, server) == [
        {"role": "user", "content": "weather in two cities?"},
        {"role": "assistant", "tool_calls": [call("c1"), call("c2")]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        interrupted("c2"),
        {"role": "user", "content": "next"},
    ]


def test_a_round_cut_off_mid_history_is_answered_where_it_stands(cli_env, server, home):
    store = history(home)
    cid = store.create(model="meta-llama/llama-4-scout", system=None)
    store.add(cid, user("weather?"))
    store.add(cid, assistant("Let me see.", calls=[stored("c1")]))
    store.add(cid, user("hello?"))  # a lenient server took it; a strict one would not
    store.add(cid, assistant("Hi."))
    messages = continue_with_next(cli_env, server)
    assert messages[:4] == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Let me see.", "tool_calls": [call("c1")]},
        interrupted("c1"),
        {"role": "user", "content": "hello?"},
    ]
    assert [m["role"] for m in messages[4:]] == ["assistant", "user"]


def test_an_unanswered_last_message_is_left_out_of_the_next_request(cli_env, server, home):
    store = history(home)
    cid = store.create(model="meta-llama/llama-4-scout", system=None)
    store.add(cid, user("first"))
    store.add(cid, assistant("One."))
    store.add(cid, user("never answered"))
    server.push(text_reply("ok"))
    r = invoke(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "next"},
    ]
    assert "a message that got no reply left out (history keeps it)" in r.stderr
    kept = [m.message.text for m in store.messages(cid)]
    assert kept == ["first", "One.", "never answered", "next", "ok"]


def test_a_clean_conversation_loads_without_a_notice(cli_env, server, home):
    store = history(home)
    cid = store.create(model="meta-llama/llama-4-scout", system=None)
    store.add(cid, user("first"))
    store.add(cid, assistant("", calls=[stored("c1")]))
    store.add(cid, tool_output("c1", "sunny"))
    store.add(cid, assistant("Sunny."))
    server.push(text_reply("ok"))
    r = invoke(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "stopped process" not in r.stderr
    assert INTERRUPTED_RESULT not in str(server.chat_bodies()[-1]["messages"])


def test_a_process_killed_while_waiting_for_the_reply_leaves_no_double_user_message(
    cli_env, server
):
    arrived, release = threading.Event(), threading.Event()

    def hold(request: dict[str, Any]) -> Reply:
        if request["json"]["messages"][-1]["content"] == "lost":
            arrived.set()
            release.wait(30)
        return text_reply("fine")

    server.script = hold
    assert invoke(["ask", "first"], cli_env).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "-c", "lost"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert arrived.wait(30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        release.set()
    r = invoke(["ask", "-c", "next"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "fine"},
        {"role": "user", "content": "next"},
    ]


def test_a_tool_result_without_its_call_is_left_out_of_the_context(cli_env, server, home):
    """A tool output whose call is not in the round it follows (a damaged row lost its
    calls, say) is refused by the APIs: it is left out of what is sent, kept in history."""
    store = history(home)
    cid = store.create(model="meta-llama/llama-4-scout", system=None)
    store.add(cid, user("weather?"))
    store.add(cid, assistant("I looked."))
    store.add(cid, tool_output("lost", "sunny"))  # its call is gone
    store.add(cid, assistant("", calls=[stored("c1")]))
    store.add(cid, tool_output("c1", "rain"))
    store.add(cid, tool_output("c9", "snow"))  # answers no call of this round
    store.add(cid, assistant("Rain."))
    messages = continue_with_next(cli_env, server)
    assert messages == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "I looked."},
        {"role": "assistant", "tool_calls": [call("c1")]},
        {"role": "tool", "content": "rain", "tool_call_id": "c1"},
        {"role": "assistant", "content": "Rain."},
        {"role": "user", "content": "next"},
    ]
    r = invoke(["history", "show", str(cid)], cli_env)
    assert "sunny" in r.stdout.decode() and "snow" in r.stdout.decode()


def test_the_load_notice_names_the_tool_results_left_out(home):
    from aimlchat.chat import repair

    store = history(home)
    cid = store.create(model="m", system=None)
    store.add(cid, user("weather?"))
    store.add(cid, tool_output("lost", "sunny"))
    store.add(cid, assistant("Sunny."))
    assert repair.notice(repair.load(store.messages(cid))) == (
        "1 tool result whose call is not in the conversation left out (history keeps it)"
    )
