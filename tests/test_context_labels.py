"""`/context` names each share of what every request carries: the system prompt, the tool
schemas, and the request overhead (the chat template's framing), never all as "system"."""

from __future__ import annotations

import re

import pytest

from aimlchat.api.adapters import ToolSchema
from aimlchat.chat.context import ContextWindow, resolve_window
from aimlchat.chat.context_view import describe
from aimlchat.chat.tokens import tokens_text
from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply
from tests.loopback_tools import MODELS_WITH_SMALL, SMALL_MODEL_ID
from tests.test_context import SYSTEM, chat_turns, user
from tests.test_context_window import open_repl
from tests.test_tool_calls import declare

TOOLS = [
    ToolSchema(
        "weather",
        "The current weather in a city, with wind and rain " * 5,
        {"type": "object", "properties": {"city": {"type": "string"}}},
    )
]


@pytest.fixture
def catalogue(cli_env: dict[str, str], server: LoopbackServer) -> None:
    server.models_reply = Reply(body=MODELS_WITH_SMALL)
    assert invoke(["models"], cli_env).returncode == 0


def shares(text: str) -> dict[str, int]:
    found = re.findall(r"^  (system|tools|overhead) +~(\d+)", text, re.MULTILINE)
    return {label: int(n) for label, n in found}


def test_request_overhead_is_its_own_line_not_the_system_prompt() -> None:
    ctx = ContextWindow(resolve_window("tiny/model", flag=4096))
    plan = ctx.fit(None, chat_turns(2), user("next"))
    text = describe(plan, ctx.estimator)
    assert "  system   none" in text
    assert re.search(r"^  overhead ~\d+  per request \(the chat template\)$", text, re.MULTILINE)
    assert shares(text) == {"overhead": plan.fixed_tokens}


def test_system_tools_and_overhead_add_up_to_what_every_request_carries() -> None:
    ctx = ContextWindow(resolve_window("tiny/model", flag=4096), tools=TOOLS)
    plan = ctx.fit(SYSTEM, chat_turns(2), user("next"))
    text = describe(plan, ctx.estimator, tools=TOOLS)
    got = shares(text)
    assert set(got) == {"system", "tools", "overhead"}
    assert sum(got.values()) == plan.fixed_tokens
    assert got["tools"] > got["system"] > 0 and 0 < got["overhead"] <= 10
    assert f"  tools    ~{tokens_text(got['tools'])}  1 tool schema" in text


def test_slash_context_in_chat_names_the_overhead_and_the_tool_schemas(
    cli_env, server, catalogue, home
):
    declare(home, weather={"code": "print('sunny')", "description": "Current weather"})
    repl, written = open_repl(cli_env, model=SMALL_MODEL_ID, tools=["weather"])
    repl.handle("/context")
    shown = "".join(written)
    assert re.search(r"^  overhead ~\d+  per request \(the chat template\)$", shown, re.M)
    assert re.search(r"^  tools    ~\d+  1 tool schema$", shown, re.M)
    assert "system includes" not in shown
