"""What the release review found in the API side, pinned: tool calls without `index`,
surrogate pairs split across events, the consent question showing the whole call, the
one list of text types for `-f URL`. End to end on the loopback server where there is an
end; tool-call assembly through `Response`, the path production takes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.api.adapters.chat_completions import chunk_events
from aimlchat.api.events import ReasoningDelta, TextDelta, ToolCallDelta
from aimlchat.api.response import Response
from aimlchat.messages import ToolCall
from aimlchat.sse import SSEEvent
from aimlchat.tools.consent import Consent, describe, question
from tests.conftest import invoke, run_cli, spawn
from tests.loopback import Reply, chunk, sse_reply
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import WEATHER, declare, messages_valid

# -- tool calls: pieces through Response ---------------------------------------------------


def _event(choice: dict[str, Any]) -> SSEEvent:
    return SSEEvent(data=json.dumps({"choices": [choice]}))


def streamed_calls(*pieces: list[dict[str, Any]]) -> list[ToolCall]:
    """The calls a stream of `delta.tool_calls` lists (one per chunk) comes to."""
    events = [_event({"index": 0, "delta": {"tool_calls": items}}) for items in pieces]
    events += [_event({"index": 0, "delta": {}, "finish_reason": "tool_calls"})]
    return Response([*events, SSEEvent(data="[DONE]")]).calls()


def stream_of(args: str, *, name: str = "weather", id: str = "call_9", index: int | None = 0):
    at = {} if index is None else {"index": index}
    yield [{**at, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]
    for char in args:
        yield [{**at, "function": {"arguments": char}}]


def test_arguments_one_character_per_chunk_are_joined():
    (got,) = streamed_calls(*stream_of('{"city": "Paris"}'))
    assert got == ToolCall("call_9", "weather", '{"city": "Paris"}')
    assert got.arguments() == {"city": "Paris"}


def test_two_indexed_calls_interleaved_stay_apart():
    first = list(stream_of('{"city": "Paris"}', id="a", index=0))
    second = list(stream_of('{"city": "Rome"}', id="b", index=1))
    interleaved = [items for pair in zip(first, second, strict=False) for items in pair]
    interleaved += first[len(second) :] + second[len(first) :]
    assert [(c.id, c.arguments()) for c in streamed_calls(*interleaved)] == [
        ("a", {"city": "Paris"}),
        ("b", {"city": "Rome"}),
    ]


def test_repeated_id_and_name_and_a_name_in_pieces():
    got = streamed_calls(
        [{"index": 0, "id": "x", "function": {"name": "weather", "arguments": "{"}}],
        [{"index": 0, "id": "x", "function": {"name": "weather", "arguments": "}"}}],
        [{"index": 1, "function": {"name": "list_"}}],
        [{"index": 1, "function": {"name": "dir", "arguments": "{}"}}],
    )
    assert got == [ToolCall("x", "weather", "{}"), ToolCall("call_1", "list_dir", "{}")]


def test_two_calls_without_index_are_two_calls_not_one():
    # The review's reproduction: every index-less piece used to land in slot 0, giving
    # one call named "weatherlist_dir" with arguments '{"city": "Oslo"}{}'.
    got = streamed_calls(
        [{"id": "a", "function": {"name": "weather", "arguments": '{"city"'}}],
        [{"function": {"arguments": ': "Oslo"}'}}],
        [{"id": "b", "function": {"name": "list_dir", "arguments": "{}"}}],
    )
    assert [(c.id, c.name, c.arguments_text) for c in got] == [
        ("a", "weather", '{"city": "Oslo"}'),
        ("b", "list_dir", "{}"),
    ]
    repeated = [{"id": "a", "function": {"arguments": "{"}}], [{"id": "a", "function": {}}]
    assert streamed_calls(*repeated) == [ToolCall("a", "", "{")]  # an id sent every time


def test_a_streamed_call_without_index_keeps_none_and_a_body_numbers_by_position():
    piece = {"id": "a", "function": {"name": "f", "arguments": "{}"}}
    assert chunk_events({"choices": [{"delta": {"tool_calls": [piece]}}]}) == [
        ToolCallDelta(call=None, id="a", name="f", arguments="{}")
    ]
    body = {"choices": [{"message": {"tool_calls": [piece, {**piece, "id": "b"}]}}]}
    assert [e.call for e in chunk_events(body) if isinstance(e, ToolCallDelta)] == [0, 1]


def test_non_streamed_tool_calls_and_missing_ids_get_stable_ones():
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "weather", "arguments": "{}"}},
                        {"type": "function", "function": {"name": "ls", "arguments": {"p": "."}}},
                    ],
                },
            }
        ]
    }
    got = Response([body]).calls()
    assert [(c.id, c.name) for c in got] == [("call_0", "weather"), ("call_1", "ls")]
    assert got[1].arguments() == {"p": "."}
    assert Response([{"choices": [{"message": {"content": "hi"}}]}]).calls() == []


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "without-index"])
def test_two_calls_in_one_turn_both_run_with_or_without_index(cli_env, server, home, indexed):
    declare(home, weather={"code": WEATHER})
    server.push(
        tool_reply(
            ("a", "weather", '{"city": "Oslo"}'),
            ("b", "weather", '{"city": "Rome"}'),
            indexed=indexed,
        ),
        text_reply("Both sunny."),
    )
    r = invoke(["ask", "-T", "weather", "--yes", "weather?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Both sunny.\n"
    messages = server.chat_bodies()[1]["messages"]
    assert [c["function"] for c in messages[1]["tool_calls"]] == [
        {"name": "weather", "arguments": '{"city": "Oslo"}'},
        {"name": "weather", "arguments": '{"city": "Rome"}'},
    ]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        ("a", "sunny in Oslo\n"),
        ("b", "sunny in Rome\n"),
    ]
    messages_valid(messages)


# -- surrogate pairs split across events ----------------------------------------------------

HIGH, LOW = "\ud83d", "\ude00"  # 😀, as JSON's "\ud83d\ude00" escapes decode one by one


def streamed(*deltas: dict[str, Any], index: int = 0) -> Response:
    events = [_event({"index": index, "delta": d}) for d in deltas]
    return Response([*events, _event({"index": index, "delta": {}, "finish_reason": "stop"})])


def test_a_pair_split_across_two_events_is_one_character():
    r = streamed({"content": f"hi {HIGH}"}, {"content": f"{LOW} there"})
    assert [e.text for e in r if isinstance(e, TextDelta)] == ["hi ", "😀 there"]
    assert r.text() == "hi 😀 there"


def test_a_half_pair_alone_in_an_event_waits_for_the_other_half():
    r = streamed({"content": "a"}, {"content": HIGH}, {"content": LOW}, {"content": "b"})
    assert r.text() == "a😀b"
    assert "".join(e.text for e in r if isinstance(e, TextDelta)) == "a😀b"


@pytest.mark.parametrize(
    ("pieces", "text"),
    [
        ([f"hi {HIGH}"], "hi \ufffd"),  # the stream ends on half a pair
        ([f"a{LOW}b"], "a\ufffdb"),  # a low half alone
        ([f"a{HIGH}", "b"], "a\ufffdb"),  # a high half the next piece does not complete
        ([f"{HIGH}{HIGH}", f"{LOW}!"], "\ufffd😀!"),
    ],
)
def test_an_unpaired_surrogate_becomes_the_replacement_character(pieces, text):
    assert streamed(*({"content": p} for p in pieces)).text() == text


def test_thinking_and_tool_arguments_are_mended_too():
    r = streamed(
        {"reasoning_content": f"hmm {HIGH}"},
        {"reasoning_content": f"{LOW} ok"},
        {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": HIGH}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": LOW}}]},
    )
    assert r.reasoning() == "hmm 😀 ok"
    assert [e.text for e in r if isinstance(e, ReasoningDelta)] == ["hmm ", "😀 ok"]
    assert r.calls() == [ToolCall("c", "f", "😀")]


def test_a_half_pair_ending_one_index_less_call_does_not_spill_into_the_next():
    r = streamed(
        {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": f'"x{HIGH}'}}]},
        {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": f'{LOW}"'}}]},
    )
    assert r.calls() == [ToolCall("a", "f", '"x\ufffd'), ToolCall("b", "g", '\ufffd"')]


def test_each_choice_keeps_its_own_half():
    events = [
        _event({"index": 0, "delta": {"content": f"a{HIGH}"}}),
        _event({"index": 1, "delta": {"content": f"b{LOW}"}}),
        _event({"index": 0, "delta": {"content": f"{LOW}c"}}),
        SSEEvent(data="[DONE]"),
    ]
    r = Response(events)
    assert r.texts() == ["a😀c", "b\ufffd"]


def test_a_pair_split_inside_a_think_block():
    r = streamed({"content": f"<think>x{HIGH}"}, {"content": f"{LOW}</think>\n\nanswer"})
    assert (r.reasoning(), r.text()) == ("x😀", "answer")


def test_a_reply_abandoned_on_half_a_pair_keeps_a_replacement_character():
    r = Response([_event({"index": 0, "delta": {"content": f"so far {HIGH}"}})])
    next(iter(r))
    r.close()
    assert r.text() == "so far \ufffd"


SPLIT_EMOJI = [chunk(f"hi {HIGH}"), chunk(f"{LOW} there"), chunk(finish="stop"), "data: [DONE]\n\n"]


def test_a_split_pair_reaches_a_pipe_as_exact_utf8_and_is_saved(cli_env, server):
    assert "\\ud83d" in SPLIT_EMOJI[0]  # on the wire as the escape, the other half next
    server.push(Reply(events=SPLIT_EMOJI))
    r = run_cli(["ask", "hi"], cli_env)  # a real pipe: before, exit 1, nothing on stdout
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    assert r.stdout == "hi 😀 there\n".encode()
    shown = invoke(["history", "show"], cli_env)
    assert "hi 😀 there" in shown.stdout.decode()


def test_the_terminal_gets_its_echo_back_after_a_split_pair(cli_env, server):
    server.push(Reply(events=SPLIT_EMOJI))
    command = f"{sys.executable} -m aimlchat ask hi; echo exit=$?; stty -a"
    child = pexpect.spawn("/bin/sh", ["-c", command], env=cli_env, dimensions=(30, 100))
    child.expect(pexpect.EOF, timeout=20)
    screen = child.before.decode("utf-8", "replace")
    assert "exit=0" in screen, screen
    assert "😀 there" in screen
    assert re.search(r"(?<![-\w])echo\b", screen), screen  # not "-echo"


class Breaking:
    """A sink whose first update is interrupted (a Ctrl-C or SIGTERM landing in it)."""

    def __init__(self) -> None:
        self.finished: list[str | None] = []

    def feed(self, text: str) -> None:
        raise KeyboardInterrupt

    def reason(self, text: str) -> None:
        raise KeyboardInterrupt

    def reasoning_tokens(self, count: int) -> None:
        pass

    def finish(self, *, status: str | None = None) -> None:
        self.finished.append(status)


@pytest.mark.parametrize("thinking", [False, True], ids=["answer", "thinking"])
def test_a_first_update_that_raises_still_finishes_the_sink(server, thinking):
    from aimlchat.api.client import Client
    from aimlchat.chat.session import Chat
    from aimlchat.chat.transcript import TurnSettings
    from aimlchat.messages import user
    from tests.loopback import reasoning_reply

    events = reasoning_reply(["hmm"], ["A"]) if thinking else sse_reply(["A"])
    server.push(Reply(events=events))
    client = Client(
        base_url=server.base_url, api_key="k", timeout=10, retries=0, notice=lambda s: None
    )
    chat = Chat(client, TurnSettings(model="m"), store=None, warn=lambda s: None)
    sink = Breaking()
    with pytest.raises(KeyboardInterrupt):
        chat.send(user("hi"), sink)
    # finish is what gives the terminal back (echo, cursor, the SIGINT handler).
    assert sink.finished == ["interrupted"]


# -- consent shows the whole call -------------------------------------------------------------

SNEAKY = json.dumps({"note": "x" * 400, "cmd": "rm -rf ~"})


def test_the_question_shows_every_argument_pretty_printed_and_safe():
    asked = question(ToolCall("c", "sh", json.dumps({"note": "x" * 400, "e": "\x1b]52;\u202e"})))
    lines = asked.splitlines()
    assert lines[0] == "→ sh {"
    assert lines[1] == '  "note": "' + "x" * 400 + '",'
    assert lines[2] == '  "e": "\\u001b]52;<U+202E>"'
    assert lines[-1] == "run sh? [y/N/a(lways this session)] "
    assert "rm -rf ~" in question(ToolCall("c", "sh", SNEAKY))


def test_the_call_is_shown_whole_where_asked_and_on_one_line_where_not(tmp_path: Path):
    from tests.test_tools import run_calls, tools

    found = tools(sh={"command": [sys.executable, "-c", "print('ran')"]})
    asked: list[str] = []
    shown: list[str] = []

    def ask(text: str) -> str:
        asked.append(text)
        return "n"

    consent = Consent(ask=ask, warn=shown.append, show=shown.append)
    run_calls([ToolCall("c", "sh", SNEAKY)], found, consent, cwd=tmp_path)
    assert shown == [] and '"cmd": "rm -rf ~"' in asked[0] and "x" * 400 in asked[0]
    consent.assume_yes = True  # nothing asked: the elided line is enough
    run_calls([ToolCall("c", "sh", SNEAKY)], found, consent, cwd=tmp_path)
    assert len(asked) == 1 and shown == [describe(ToolCall("c", "sh", SNEAKY))]
    assert shown[0].endswith("…") and "rm -rf" not in shown[0]


def test_ask_on_a_terminal_asks_with_the_whole_call(cli_env, server, home):
    declare(home, sh={"code": "print('ran')"})
    server.push(tool_reply(("c", "sh", SNEAKY), per_chunk=50), text_reply("Not run."))
    child = spawn(["ask", "-T", "sh", "go"], cli_env)
    child.expect_exact("run sh? [y/N/a(lways this session)]")
    assert "x" * 400 in child.before and '"cmd": "rm -rf ~"' in child.before
    child.sendline("n")
    child.expect_exact("Not run.")
    child.expect(pexpect.EOF)
    assert server.chat_bodies()[1]["messages"][-1]["content"].startswith("declined")


# -- -f URL: one list of text types ----------------------------------------------------------


@pytest.mark.parametrize(
    "ctype", ["application/javascript", "application/ld+json", "application/x-yaml"]
)
def test_a_page_of_a_text_type_is_sent_whole_not_as_an_empty_block(cli_env, server, ctype):
    server.pages["/page"] = Reply(body="export const answer = 42;\n", content_type=ctype)
    url = server.base_url.removesuffix("/v1") + "/page"
    r = invoke(["ask", "-f", url, "explain"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = server.chat_bodies()[-1]["messages"][-1]["content"]
    assert sent == f"{url}\n```\nexport const answer = 42;\n```\n\nexplain"
