"""`ask -n N` with output that a program reads: --format json gives one JSON document a
line, -x refuses to pick among N replies, and -x with --extract-last is refused."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke
from tests.loopback import Reply, completion, sse_reply


def _streamed(texts: list[str]) -> list[str]:
    """SSE events that interleave the choices, as a server streaming n=2 does."""
    events = []
    for i, t in enumerate(texts):
        delta = {"choices": [{"index": i, "delta": {"content": t}, "finish_reason": None}]}
        events.append(f"data: {json.dumps(delta)}\n\n")
    for i in range(len(texts)):
        done = {"choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]}
        events.append(f"data: {json.dumps(done)}\n\n")
    return [*events, "data: [DONE]\n\n"]


REPLIES = ['{\n  "name": "Ada",\n  "age": 36\n}', '{"name": "Alan", "age": 41}']


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_n_2_format_json_prints_one_json_document_a_line(cli_env, server, stream):
    if stream:
        server.push(Reply(events=_streamed(REPLIES)))
    else:
        server.push(Reply(body=completion(REPLIES)))
    r = invoke(["ask", "-n", "2", "--format", "json", "two people as JSON"], cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"name": "Ada", "age": 36},
        {"name": "Alan", "age": 41},
    ]
    assert server.chat_bodies()[0]["response_format"] == {"type": "json_object"}


def test_a_reply_that_is_not_json_is_left_out_and_exits_1(cli_env, server):
    server.push(Reply(body=completion(['{"ok": 1}', '{"cut": "off'])))
    r = invoke(["ask", "-n", "2", "--format", "json", "hi"], cli_env)
    assert r.returncode == 1
    assert r.stdout == b'{"ok": 1}\n' and "reply 2 of 2 is not valid JSON" in r.stderr


def test_n_2_with_x_is_refused_before_anything_is_sent(cli_env, server):
    r = invoke(["ask", "-n", "2", "-x", "a regex for emails"], cli_env)
    assert r.returncode == 2 and "-x prints one code block" in r.stderr
    assert server.chat_bodies() == []


def test_x_and_extract_last_together_are_refused(cli_env, server):
    server.push(Reply(events=sse_reply(["```\na\n```\n```\nb\n```"])))
    r = invoke(["ask", "-x", "--extract-last", "two blocks"], cli_env)
    assert r.returncode == 2 and "not both" in r.stderr
    assert server.chat_bodies() == []
