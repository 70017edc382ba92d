"""The OpenAI chat shapes: chunks and whole bodies become the same events, whatever real
servers bend in them; error bodies name their fields. Pure functions: the Response is in
test_response, the wire in test_replies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimlchat.api.adapters.chat_completions import body_events, chunk_events, payload
from aimlchat.api.errors_http import http_error
from aimlchat.api.events import (
    Finish,
    ProtocolError,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from aimlchat.sse import SSEDecoder, SSEEvent
from tests.loopback import completion, sse_reply


def sse(*raws: str) -> list[SSEEvent]:
    d = SSEDecoder()
    return [e for raw in raws for e in d.feed(raw.encode())] + d.finish()


def events_of(*raws: str) -> list[Any]:
    return [e for event in sse(*raws) for e in chunk_events(payload(event))]


# -- one parser for chunks and bodies ----------------------------------------------------


def test_a_stream_becomes_text_finish_usage_done():
    assert events_of(*sse_reply(["Hi", " there"])) == [
        TextDelta("Hi"),
        TextDelta(" there"),
        Finish("stop"),
        Usage(10, 2, 12),
        StreamEnd(),
    ]


def test_a_whole_body_becomes_the_same_events_as_its_stream():
    body = completion("Hi there", n=2)
    assert body_events(body) == [
        TextDelta("Hi there", 0),
        Finish("stop", 0),
        TextDelta("Hi there (2)", 1),
        Finish("stop", 1),
        Usage(10, 5, 15),
    ]


def test_a_missing_index_is_the_choices_position_in_chunks_and_bodies():
    choices = [{"delta": {"content": "A"}}, {"delta": {"content": "B"}}]
    # before: the stream parser put both on choice 0, the body parser on 0 and 1
    assert chunk_events({"choices": choices}) == [TextDelta("A", 0), TextDelta("B", 1)]
    messages = [{"message": {"content": "A"}}, {"message": {"content": "B"}}]
    assert body_events({"choices": messages}) == [TextDelta("A", 0), TextDelta("B", 1)]


@pytest.mark.parametrize("bad", [None, -1, True, "x", 1.5, [0], {"i": 0}])
def test_an_unusable_index_is_the_position_too(bad):
    choices = [{"index": 0, "delta": {"content": "A"}}, {"index": bad, "delta": {"content": "B"}}]
    assert chunk_events({"choices": choices})[1] == TextDelta("B", 1)


@pytest.mark.parametrize(
    "obj, expected",
    [
        # LiteLLM / vLLM: the role alone, content null
        ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}, []),
        ({"choices": [{"index": 0, "delta": {}, "finish_reason": None}]}, []),
        ({"choices": [{"index": 0, "delta": {"content": ""}}]}, []),
        # the last text and the finish reason in one chunk
        (
            {"choices": [{"index": 0, "delta": {"content": "end"}, "finish_reason": "length"}]},
            [TextDelta("end"), Finish("length")],
        ),
        # usage beside empty choices, beside a choice, inside a choice, or in x_groq
        ({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}, [Usage(1, 2, 3)]),
        (
            {"choices": [{"delta": {"content": "x"}}], "usage": {"total_tokens": 9}},
            [TextDelta("x"), Usage(0, 0, 9)],
        ),
        ({"choices": [{"delta": {}, "usage": {"prompt_tokens": 4}}]}, [Usage(4, 0, 4)]),
        ({"choices": [], "x_groq": {"usage": {"completion_tokens": 3}}}, [Usage(0, 3, 3)]),
        # nulls, strings and junk where numbers belong
        ({"choices": None, "usage": None}, []),
        (
            {"choices": {}, "usage": {"prompt_tokens": "7", "completion_tokens": None}},
            [Usage(7, 0, 7)],
        ),
        ({"choices": ["junk", 3, None], "usage": {"prompt_tokens": "many"}}, []),
        # extra fields anywhere are ignored
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": "x", "refusal": None, "annotations": []},
                        "logprobs": None,
                        "stop_reason": 128009,
                    }
                ],
                "system_fingerprint": "fp",
                "prompt_filter_results": [],
            },
            [TextDelta("x")],
        ),
        # content as a list of parts; the legacy completions `text`
        (
            {"choices": [{"delta": {"content": [{"type": "text", "text": "a"}, {"x": 1}]}}]},
            [TextDelta("a")],
        ),
        ({"choices": [{"index": 0, "text": "legacy"}]}, [TextDelta("legacy")]),
    ],
)
def test_real_server_shapes_are_taken_in_stride(obj, expected):
    assert chunk_events(obj) == expected


def test_reasoning_and_tool_call_pieces_are_typed_events():
    obj = {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "reasoning_content": "hmm",
                    "tool_calls": [
                        {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a'}},
                        {"index": 1, "function": {"arguments": {"b": 1}}},
                    ],
                },
            }
        ]
    }
    assert chunk_events(obj) == [
        ReasoningDelta("hmm"),
        ToolCallDelta(call=0, id="c1", name="f", arguments='{"a'),
        ToolCallDelta(call=1, arguments='{"b": 1}'),
    ]


@pytest.mark.parametrize(
    "obj",
    [
        {"error": {"message": "overloaded", "code": 503}},
        {"object": "error", "message": "overloaded", "type": "x", "code": 503},
    ],
)
def test_error_objects_in_a_stream(obj):
    assert chunk_events(obj) == [StreamError("overloaded", "503")]


def test_an_sse_error_event_is_an_error_whatever_its_shape():
    (event,) = sse('event: error\ndata: {"message": "boom"}\n\n')
    assert chunk_events(payload(event)) == [StreamError("boom")]


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", "3", '"text"'])
def test_what_cannot_be_a_chunk_is_a_protocol_error(data):
    with pytest.raises(ProtocolError, match="invalid response from server"):
        chunk_events(payload(SSEEvent(data)))


@pytest.mark.parametrize("body", [[], "x", {"id": 1}, {"choices": "x"}])
def test_a_body_without_choices_is_a_protocol_error(body):
    with pytest.raises(ProtocolError):
        body_events(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
INDEX = st.none() | st.integers(-2, 5) | st.booleans() | st.text(max_size=2) | st.floats() | JSON
CONTENT = st.none() | st.text(max_size=4) | JSON
CHOICE = st.fixed_dictionaries(
    {},
    optional={
        "index": INDEX,
        "delta": st.fixed_dictionaries({}, optional={"content": CONTENT, "role": JSON}) | JSON,
        "finish_reason": st.none() | st.sampled_from(["stop", "length", ""]) | JSON,
        "usage": JSON,
        "extra": JSON,
    },
)


@given(st.lists(CHOICE | JSON, max_size=4), JSON)
@settings(max_examples=400, deadline=None)
def test_any_choices_and_usage_parse_without_crashing(choices, usage):
    for event in chunk_events({"choices": choices, "usage": usage}):
        assert getattr(event, "index", 0) >= 0


@given(st.lists(st.tuples(INDEX, st.booleans()), max_size=5))
@settings(max_examples=400, deadline=None)
def test_the_index_is_the_declared_one_when_usable_else_the_position(specs):
    choices: list[dict[str, Any]] = []
    for position, (index, has_index) in enumerate(specs):
        choice = {"delta": {"content": f"<{position}>"}, "finish_reason": f"r{position}"}
        choices.append({**choice, "index": index} if has_index else choice)
    events = chunk_events({"choices": choices})
    assert len(events) == 2 * len(choices)
    for event in events:
        assert isinstance(event, (TextDelta, Finish))
        tag = event.text if isinstance(event, TextDelta) else event.reason
        position = int(tag.strip("<>r"))
        declared = choices[position].get("index")
        usable = type(declared) is int and declared >= 0
        assert event.index == (declared if usable else position) or (
            isinstance(declared, (float, str)) and event.index == _loose(declared, position)
        )


def _loose(declared: float | str, position: int) -> int:
    # 1.0 and "1" are read as 1, as some servers send them; anything else is the position.
    if isinstance(declared, float):
        return int(declared) if declared.is_integer() and declared >= 0 else position
    return int(declared) if declared.isascii() and declared.isdigit() else position


@given(st.lists(st.text(max_size=6), max_size=4), st.sampled_from(["stop", "length", None]))
@settings(max_examples=200, deadline=None)
def test_a_body_and_its_chunk_give_the_same_events(texts, reason):
    choices = [{"index": i, "finish_reason": reason} for i in range(len(texts))]
    as_chunk = [{**c, "delta": {"content": t}} for c, t in zip(choices, texts, strict=True)]
    as_body = [{**c, "message": {"content": t}} for c, t in zip(choices, texts, strict=True)]
    assert chunk_events({"choices": as_chunk}) == body_events({"choices": as_body})


@given(st.lists(st.binary(max_size=64), max_size=10))
@settings(max_examples=300, deadline=None)
def test_random_bytes_raise_nothing_but_the_protocol_error(chunks):
    d = SSEDecoder()
    try:
        for event in [e for c in chunks for e in d.feed(c)] + d.finish():
            chunk_events(payload(event))
    except ProtocolError:
        pass


# -- error bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, line",
    [
        (
            {
                "message": "Bad Request",
                "statusCode": 400,
                "errors": [
                    {"path": "temperature", "message": "must be ≤ 2"},
                    {"path": ["top_p"], "message": "must be > 0"},
                ],
            },
            "HTTP 400: temperature: must be ≤ 2; top_p: must be > 0",
        ),
        (
            {
                "detail": [
                    {"loc": ["body", "temperature"], "msg": "Input should be ≤ 2", "type": "x"},
                    {"loc": ["body", "messages", 0, "role"], "msg": "Field required"},
                ]
            },
            "HTTP 400: temperature: Input should be ≤ 2; messages.0.role: Field required",
        ),
        (
            {"error": {"message": "too high", "param": "temperature", "code": None}},
            "HTTP 400: temperature: too high",
        ),
        (
            {"message": ["temperature must not be greater than 2", "n must be an integer"]},
            "HTTP 400: temperature must not be greater than 2; n must be an integer",
        ),
    ],
)
def test_field_errors_are_named_in_the_one_error_line(body, line):
    error = http_error(400, "Bad Request", json.dumps(body).encode(), "application/json")
    assert error.message == line


def test_many_field_errors_are_capped():
    errors = [{"path": f"f{i}", "message": "bad"} for i in range(10)]
    error = http_error(400, "", json.dumps({"errors": errors}).encode(), "application/json")
    assert error.message.endswith("f5: bad; … and 4 more")
