"""One conversation across both APIs: begun over Chat Completions (an image, a reasoning
reply, a tool round), continued with `-c` over Responses (its own reasoning items and
tool round), then back on Chat Completions and once more on Responses. Each API gets the
whole conversation in its own shape; the thinking is never sent back as text, and the
Responses reasoning items go back only to Responses, exactly as received (from history,
across runs). The same through the learned fallback, with no --api.

Through the CLI (`ask`, history on) against the loopback server, which answers each path
in its shape from what the request holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.loopback import (
    RESPONSES_MODEL,
    RESPONSES_ONLY,
    Reply,
    reasoning_reply,
    responses_stream,
)
from tests.loopback_tools import tool_call_events
from tests.test_ecosystem import PNG
from tests.test_responses_api import ENCRYPTED, encrypted, kept_item

CHAT_MODEL = "meta-llama/llama-4-scout"
NOTES = "The notes say: plums.\n"
# The thinking of each reply: history keeps it, no request may carry it as text.
CHAT_THOUGHT = "I should read the notes first."
CHAT_THOUGHT_2 = "The notes are short."
RESPONSES_THOUGHT = "Read them again."
RESPONSES_THOUGHT_2 = "Same plums."


def _chat_reply(body: dict[str, Any]) -> Reply:
    """Chat Completions: a tool round when tools are offered (thinking, then a call to
    read notes.txt), the answer quoting the tool's output after it, else a plain answer;
    thinking before each."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        answer = f"Chat read: {messages[-1]['content'].strip()}"
        return Reply(events=reasoning_reply([CHAT_THOUGHT_2], [answer]))
    if body.get("tools"):
        thinking = {"choices": [{"index": 0, "delta": {"reasoning_content": CHAT_THOUGHT}}]}
        call = ("call_c1", "read_file", json.dumps({"path": "notes.txt"}))
        return Reply(events=[f"data: {json.dumps(thinking)}\n\n", *tool_call_events([call])])
    return Reply(events=reasoning_reply(["Back here."], ["Back on chat."]))


def _responses_reply(body: dict[str, Any]) -> Reply:
    """Responses: the same, with a reasoning item carrying its encrypted content when the
    body asks for it (`enc-1` before the call, `enc-2` before the answer, `enc-3` else)."""
    items = body["input"]
    if items[-1]["type"] == "function_call_output":
        secret, thinking = "enc-2", RESPONSES_THOUGHT_2
        events = responses_stream([f"Responses read: {items[-1]['output'].strip()}"],
                                  reasoning=[thinking])  # fmt: skip
    elif any(t.get("type") == "function" for t in body.get("tools") or []):
        secret, thinking = "enc-1", RESPONSES_THOUGHT
        call = ("call_r1", "read_file", json.dumps({"path": "notes.txt"}))
        events = responses_stream([], reasoning=[thinking], calls=[call])
    else:
        secret = "enc-3"
        events = responses_stream(["Responses again."], reasoning=["Once more."])
    asked = ENCRYPTED in (body.get("include") or [])
    return Reply(events=encrypted(events, secret) if asked else events)


def two_apis(request: dict[str, Any]) -> Reply:
    body = request.get("json") or {}
    if request["path"].endswith("/responses"):
        return _responses_reply(body)
    if body.get("model") == RESPONSES_MODEL:  # as the AI/ML API answers it
        return Reply(status=400, body=RESPONSES_ONLY)
    return _chat_reply(body)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with the notes the tool reads and the picture sent."""
    (tmp_path / "work").mkdir()
    folder = tmp_path / "work"
    (folder / "notes.txt").write_text(NOTES)
    (folder / "shot.png").write_bytes(PNG)
    monkeypatch.chdir(folder)
    return folder


def ask(env: dict[str, str], *args: str) -> str:
    r = invoke(["ask", *args], env)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def no_thinking(body: dict[str, Any], *thoughts: str) -> None:
    sent = json.dumps(body)
    for thought in thoughts:
        assert thought not in sent


def check_responses_continuation(body: dict[str, Any], second: dict[str, Any]) -> None:
    """The first Responses request carries the Chat Completions turn in its own shape;
    the second (after its tool ran) its own reasoning item before its call."""
    items = body["input"]
    assert [(i["type"], i.get("role")) for i in items] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
    ]
    first = items[0]["content"]
    assert first[0] == {"type": "input_text", "text": "what do the notes and the picture say?"}
    assert first[1]["type"] == "input_image"
    assert first[1]["image_url"].startswith("data:image/png;base64,")
    assert items[1] == {
        "type": "function_call",
        "call_id": "call_c1",
        "name": "read_file",
        "arguments": '{"path": "notes.txt"}',
    }
    assert items[2]["call_id"] == "call_c1" and "plums" in items[2]["output"]
    assert items[3]["content"][0]["text"] == "Chat read: The notes say: plums."
    assert body["include"] == [ENCRYPTED]
    no_thinking(body, CHAT_THOUGHT, CHAT_THOUGHT_2)  # Chat Completions' thinking stays home

    later = second["input"]
    assert later[:5] == items
    assert [i["type"] for i in later[5:]] == ["reasoning", "function_call", "function_call_output"]
    assert later[5] == kept_item("enc-1", RESPONSES_THOUGHT)  # exactly as received
    assert later[6]["call_id"] == "call_r1"


def check_chat_again(body: dict[str, Any]) -> None:
    """Back on Chat Completions: every turn in its shape, no reasoning, no items."""
    messages = body["messages"]
    shape = [(m["role"], [c["id"] for c in m.get("tool_calls", [])], m.get("tool_call_id"))
             for m in messages]  # fmt: skip
    assert shape == [
        ("user", [], None),
        ("assistant", ["call_c1"], None),
        ("tool", [], "call_c1"),
        ("assistant", [], None),
        ("user", [], None),
        ("assistant", ["call_r1"], None),
        ("tool", [], "call_r1"),
        ("assistant", [], None),
        ("user", [], None),
    ]
    image = messages[0]["content"][1]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert messages[7]["content"] == "Responses read: The notes say: plums."
    for m in messages:
        assert not {"reasoning", "reasoning_content", "reasoning_details"} & m.keys()
    # The Responses reasoning items are that API's: never sent here.
    no_thinking(body, CHAT_THOUGHT, RESPONSES_THOUGHT, RESPONSES_THOUGHT_2, "enc-", "rs_")
    assert "include" not in body


def check_responses_from_history(body: dict[str, Any]) -> None:
    """On Responses once more, in a new run: its reasoning items come back from history,
    each before its reply's items, exactly as received; Chat Completions' thinking not."""
    items = body["input"]
    kinds = [i["type"] for i in items]
    assert kinds.count("reasoning") == 2
    at = kinds.index("reasoning")
    assert items[at] == kept_item("enc-1", RESPONSES_THOUGHT)
    assert items[at + 1]["type"] == "function_call"
    assert items[at + 3] == kept_item("enc-2", RESPONSES_THOUGHT_2)
    assert items[at + 4]["type"] == "message" and items[at + 4]["role"] == "assistant"
    no_thinking(body, CHAT_THOUGHT, CHAT_THOUGHT_2, "Back here.")


def test_a_conversation_moves_from_chat_completions_to_responses_and_back(cli_env, server, here):
    server.script = two_apis
    tools = ["-T", "read_file", "--yes"]
    out = ask(cli_env, "-m", CHAT_MODEL, *tools, "-a", "shot.png",
              "what do the notes and the picture say?")  # fmt: skip
    assert out == "Chat read: The notes say: plums.\n"
    assert server.api_paths() == ["/v1/chat/completions"] * 2

    out = ask(cli_env, "-c", "--api", "responses", "-m", RESPONSES_MODEL, *tools, "again?")
    assert out == "Responses read: The notes say: plums.\n"
    assert server.api_paths()[2:] == ["/v1/responses"] * 2
    check_responses_continuation(*server.responses_bodies())

    out = ask(cli_env, "-c", "--api", "chat", "-m", CHAT_MODEL, "and back?")
    assert out == "Back on chat.\n"
    assert server.api_paths()[4:] == ["/v1/chat/completions"]
    check_chat_again(server.chat_bodies()[-1])

    out = ask(cli_env, "-c", "--api", "responses", "-m", RESPONSES_MODEL, "once more?")
    assert out == "Responses again.\n"
    check_responses_from_history(server.responses_bodies()[-1])


def test_the_same_switch_through_the_learned_fallback(cli_env, server, here):
    server.script = two_apis
    tools = ["-T", "read_file", "--yes"]
    ask(cli_env, "-m", CHAT_MODEL, *tools, "-a", "shot.png",
        "what do the notes and the picture say?")  # fmt: skip

    r = invoke(["ask", "-c", "-m", RESPONSES_MODEL, *tools, "again?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert f"{RESPONSES_MODEL} answers only on /v1/responses" in r.stderr
    # One refusal, then straight to /responses for the tool round's second request.
    assert server.api_paths()[2:] == ["/v1/chat/completions", "/v1/responses", "/v1/responses"]
    check_responses_continuation(*server.responses_bodies())

    ask(cli_env, "-c", "-m", CHAT_MODEL, "and back?")
    assert server.api_paths()[5:] == ["/v1/chat/completions"]
    check_chat_again(server.chat_bodies()[-1])

    ask(cli_env, "-c", "-m", RESPONSES_MODEL, "once more?")
    assert server.api_paths()[6:] == ["/v1/responses"]  # remembered across runs
    check_responses_from_history(server.responses_bodies()[-1])


def test_history_keeps_the_reasoning_items_and_shows_only_the_thinking(cli_env, server, here):
    server.script = two_apis
    ask(cli_env, "--api", "responses", "-m", RESPONSES_MODEL, "-T", "read_file", "--yes", "go")
    shown = invoke(["history", "show"], cli_env)
    assert shown.returncode == 0, shown.stderr
    assert RESPONSES_THOUGHT in shown.stdout.decode()
    assert "enc-" not in shown.stdout.decode()  # stored, never shown

    export = invoke(["history", "export", "-f", "json"], cli_env)
    assert export.returncode == 0, export.stderr
    replies = [m for m in json.loads(export.stdout)["messages"] if m["role"] == "assistant"]
    kept = [p["opaque"] for m in replies for p in m["parts"] if p["type"] == "reasoning"]
    assert kept == [
        {
            "api": "responses",
            "item": kept_item("enc-1", RESPONSES_THOUGHT),
            "model": RESPONSES_MODEL,
        },
        {
            "api": "responses",
            "item": kept_item("enc-2", RESPONSES_THOUGHT_2),
            "model": RESPONSES_MODEL,
        },
    ]


def test_reasoning_items_go_back_only_to_the_model_that_made_them(cli_env, server, here):
    """Encrypted reasoning is one model's own: another Responses model is sent the
    conversation without it (it would refuse the request), the same model gets it back."""
    server.script = two_apis
    ask(cli_env, "--api", "responses", "-m", RESPONSES_MODEL, "-T", "read_file", "--yes", "go")
    ask(cli_env, "-c", "--api", "responses", "-m", "openai/o3-pro", "and now?")
    other = server.responses_bodies()[-1]
    assert other["model"] == "openai/o3-pro"
    assert [i for i in other["input"] if i["type"] == "reasoning"] == []
    assert "enc-" not in json.dumps(other)
    ask(cli_env, "-c", "--api", "responses", "-m", RESPONSES_MODEL, "and back?")
    same = server.responses_bodies()[-1]
    assert [i["encrypted_content"] for i in same["input"] if i["type"] == "reasoning"] == [
        "enc-1",
        "enc-2",
    ]
