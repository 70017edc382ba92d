"""The Responses API (`POST /v1/responses`): the body built from a neutral request, and
its streamed events and whole bodies read as the same events as Chat Completions'.

Through the real `Client` against the loopback server, which speaks both shapes; the
odd shapes real servers send are pinned on the adapter alone."""

from __future__ import annotations

import json

import pytest

from aimlchat.api.adapters import ChatRequest, OutputFormat, ToolSchema, chat_completions, responses
from aimlchat.api.client import Client
from aimlchat.api.events import (
    CitationDelta,
    Finish,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from aimlchat.api.response import Response
from aimlchat.errors import ApiError
from aimlchat.messages import Image, Message, ToolCall, assistant, tool_output, user
from aimlchat.sse import SSEEvent
from tests.loopback import (
    RESPONSES_MODEL,
    Reply,
    responses_body,
    responses_error,
    responses_event,
    responses_failed,
    responses_stream,
    responses_usage,
)

ENCRYPTED = "reasoning.encrypted_content"
WEATHER = ToolSchema(
    "weather", "The weather in a city", {"type": "object", "properties": {"city": {}}}
)


def client(server) -> Client:
    return Client(
        base_url=server.base_url, api_key="k", timeout=10, retries=0, notice=lambda s: None
    )


def ask(text: str = "hi", **kw) -> ChatRequest:
    return ChatRequest(model=RESPONSES_MODEL, messages=(user(text),), **kw)


def sse(raw: str) -> SSEEvent:
    data = next(line[6:] for line in raw.splitlines() if line.startswith("data: "))
    return SSEEvent(data=data)


def encrypted(events: list[str], secret: str) -> list[str]:
    """A Responses stream as a server sends it when the body asks for the encrypted
    reasoning: its reasoning item named `rs_SECRET`, carrying `secret` at its end."""
    out = []
    for raw in events:
        obj = json.loads(sse(raw).data.replace('"rs_1"', f'"rs_{secret}"'))
        kind = obj.pop("type")
        if kind == "response.output_item.done":
            _encrypt(obj["item"], secret)
        elif kind == "response.completed":
            encrypted_body(obj["response"], secret)
        out.append(responses_event(kind, **obj))
    return out


def encrypted_body(body: dict, secret: str) -> dict:
    """A whole Responses reply whose reasoning items carry `secret` (the first keeps it
    as is, the next ones get `-2`, `-3`, … after it)."""
    items = [i for i in body["output"] if i["type"] == "reasoning"]
    for n, item in enumerate(items):
        _encrypt(item, secret if n == 0 else f"{secret}-{n + 1}")
    return body


def _encrypt(item: dict, secret: str) -> None:
    if item["type"] == "reasoning":
        item.update(id=f"rs_{secret}", encrypted_content=secret)


def events_of(*raws: str) -> list:
    """The adapter's events for raw SSE events, through one stream's parser."""
    parser = responses.stream_parser()
    return [e for raw in raws for e in parser.chunk_events(responses.payload(sse(raw)))]


# -- text, streamed and whole ----------------------------------------------------------------


def test_streamed_text_arrives_as_text_deltas_over_the_responses_path(server):
    server.push(Reply(events=responses_stream(["Hel", "lo", " there"])))
    response = client(server).chat(ask(), api="responses")
    texts = [e.text for e in response if isinstance(e, TextDelta)]
    assert texts == ["Hel", "lo", " there"]
    assert response.text() == "Hello there"
    assert response.finish_reason() == "stop"
    assert server.api_paths() == ["/v1/responses"]


def test_a_whole_body_is_read_as_the_same_reply(server):
    server.push(Reply(body=responses_body("Whole answer.", reasoning="Thought briefly.")))
    response = client(server).complete(ask(), api="responses")
    assert response.text() == "Whole answer."
    assert response.reasoning() == "Thought briefly."
    assert response.finish_reason() == "stop"
    assert response.json()["object"] == "response"  # --json: the body as sent


def test_a_text_reply_takes_the_shape_of_the_path_it_answers(server):
    server.push(Reply(text=["Same", " words"]), Reply(text=["Same", " words"]))
    assert client(server).chat(ask(), api="responses").text() == "Same words"
    assert client(server).chat(ask(), api="chat").text() == "Same words"


def test_json_of_a_stream_is_the_response_object_it_ended_with(server):
    server.push(Reply(events=responses_stream(["A", "B"])))
    response = client(server).chat(ask(), api="responses")
    body = response.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output_text"] == "AB"


# -- reasoning ---------------------------------------------------------------------------------


def test_a_reasoning_summary_streams_as_reasoning_not_text(server):
    events = responses_stream(["Blue."], reasoning=["Rayleigh ", "scattering."])
    server.push(Reply(events=events))
    response = client(server).chat(ask(), api="responses")
    seen = list(response)
    assert [e.text for e in seen if isinstance(e, ReasoningDelta)] == ["Rayleigh ", "scattering."]
    assert response.reasoning() == "Rayleigh scattering."
    assert response.text() == "Blue."


def test_summary_parts_after_the_first_start_a_new_paragraph():
    at = {"item_id": "rs_1", "output_index": 0}
    got = events_of(
        responses_event("response.reasoning_summary_part.added", **at, summary_index=0),
        responses_event("response.reasoning_summary_text.delta", **at, delta="One."),
        responses_event("response.reasoning_summary_part.added", **at, summary_index=1),
        responses_event("response.reasoning_summary_text.delta", **at, delta="Two."),
    )
    assert "".join(e.text for e in got) == "One.\n\nTwo."


def test_the_full_thinking_and_its_summary_in_one_stream_show_one_of_them():
    at = {"item_id": "rs_1", "output_index": 0}
    got = events_of(
        responses_event("response.reasoning_text.delta", **at, content_index=0, delta="raw"),
        responses_event("response.reasoning_summary_text.delta", **at, delta="sum"),
        responses_event("response.reasoning_text.delta", **at, content_index=0, delta=" more"),
    )
    assert "".join(e.text for e in got) == "raw more"  # the first form to come is kept


# -- tool calls --------------------------------------------------------------------------------


def test_a_function_call_is_assembled_from_argument_pieces(server):
    calls = [("call_w", "weather", '{"city": "Paris"}')]
    server.push(Reply(events=responses_stream([], calls=calls, per_chunk=3)))
    response = client(server).chat(ask(tools=(WEATHER,)), api="responses")
    pieces = [e for e in response if isinstance(e, ToolCallDelta)]
    assert len(pieces) > 3  # the arguments came in pieces, and were not doubled at the end
    assert response.calls() == [ToolCall("call_w", "weather", '{"city": "Paris"}')]
    assert response.finish_reason() == "tool_calls"
    assert response.text() == ""


def test_the_tool_round_trip_sends_the_call_and_its_output_as_input_items(server):
    calls = [("call_w", "weather", '{"city": "Paris"}')]
    server.push(Reply(events=responses_stream([], calls=calls)), Reply(text=["Sunny."]))
    c = client(server)
    first = c.chat(ask("weather?", tools=(WEATHER,)), api="responses")
    call = first.calls()[0]
    history = (
        user("weather?"),
        assistant(calls=[call], reasoning="I should look it up."),
        tool_output(call.id, "22 C, sunny"),
    )
    request = ChatRequest(model=RESPONSES_MODEL, messages=history, tools=(WEATHER,))
    assert c.chat(request, api="responses").text() == "Sunny."
    sent = server.responses_bodies()[1]["input"]
    assert sent == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "weather?"}],
        },
        {
            "type": "function_call",
            "call_id": "call_w",
            "name": "weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_w", "output": "22 C, sunny"},
    ]  # the reasoning stays home


def test_whole_arguments_at_the_end_count_when_no_piece_came():
    added = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}
    done = {**added, "arguments": '{"a": 1}'}
    got = events_of(
        responses_event("response.output_item.added", output_index=1, item=added),
        responses_event("response.output_item.done", output_index=1, item=done),
    )
    assert [e.arguments for e in got] == ["", '{"a": 1}']
    raws = [
        responses_event("response.output_item.added", output_index=1, item=added),
        responses_event("response.output_item.done", output_index=1, item=done),
        responses_event("response.completed", response={"output": [done]}),
    ]
    response = Response([sse(raw) for raw in raws], responses)
    assert response.calls() == [ToolCall("c1", "f", '{"a": 1}')]
    assert response.finish_reason() == "tool_calls"


def test_whole_arguments_at_the_end_are_not_added_to_their_pieces():
    added = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}
    got = events_of(
        responses_event("response.output_item.added", output_index=0, item=added),
        responses_event("response.function_call_arguments.delta", item_id="fc_1", delta='{"a"'),
        responses_event("response.function_call_arguments.delta", item_id="fc_1", delta=": 1}"),
        responses_event("response.function_call_arguments.done", item_id="fc_1", arguments="x"),
        responses_event(
            "response.output_item.done", output_index=0, item={**added, "arguments": '{"a": 1}'}
        ),
    )
    assert "".join(e.arguments for e in got) == '{"a": 1}'
    assert {e.call for e in got} == {0}  # pieces without output_index found by item id


def test_two_calls_in_one_stream_stay_apart(server):
    calls = [("c1", "weather", '{"city": "A"}'), ("c2", "weather", '{"city": "B"}')]
    server.push(Reply(events=responses_stream(["Looking."], calls=calls, per_chunk=2)))
    response = client(server).chat(ask(tools=(WEATHER,)), api="responses")
    assert [(c.id, c.arguments()) for c in response.calls()] == [
        ("c1", {"city": "A"}),
        ("c2", {"city": "B"}),
    ]
    assert response.text() == "Looking."


def test_a_whole_body_with_a_function_call(server):
    calls = [("c1", "weather", '{"city": "A"}')]
    server.push(Reply(body=responses_body("", calls=calls)))
    response = client(server).complete(ask(tools=(WEATHER,)), api="responses")
    assert response.calls() == [ToolCall("c1", "weather", '{"city": "A"}')]
    assert response.finish_reason() == "tool_calls"


# -- citations and usage ----------------------------------------------------------------------


def test_url_citations_become_citation_events(server):
    cites = [("https://a.example/x", "A"), ("https://b.example/y", "B")]
    server.push(Reply(events=responses_stream(["Cited."], citations=cites)))
    seen = list(client(server).chat(ask(web_search="low"), api="responses"))
    assert [(e.url, e.title, e.start, e.end) for e in seen if isinstance(e, CitationDelta)] == [
        ("https://a.example/x", "A", 0, 6),
        ("https://b.example/y", "B", 0, 6),
    ]
    tool = server.responses_bodies()[0]["tools"]
    assert tool == [{"type": "web_search_preview", "search_context_size": "low"}]


def test_citations_in_a_whole_body():
    body = responses_body("Cited.", citations=[("https://a.example/x", "A")])
    got = responses.body_events(body)
    assert CitationDelta("https://a.example/x", "A", 0, 6) in got


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_usage_is_mapped_with_the_reasoning_tokens(server, streamed):
    usage = responses_usage(40, 25, reasoning_tokens=17)
    reply = (
        Reply(events=responses_stream(["x"], usage=usage))
        if streamed
        else Reply(body=responses_body("x", usage=usage))
    )
    server.push(reply)
    response = client(server).chat(ask(stream=streamed), api="responses")
    assert response.usage == Usage(40, 25, 65)
    assert response.usage.reasoning_tokens == 17
    assert response.usage.details["input_tokens"] == 40  # the server's object, kept


# -- how it ends -------------------------------------------------------------------------------


def test_response_failed_is_an_api_error_with_its_message_and_code(server):
    server.push(Reply(events=responses_failed("model overloaded", "server_error", pieces=["Hal"])))
    response = client(server).chat(ask(), api="responses")
    with pytest.raises(ApiError, match="model overloaded") as caught:
        response.text()
    assert caught.value.code == "server_error"
    assert response.text() == "Hal"  # what arrived is kept


def test_an_error_event_is_an_api_error(server):
    events = responses_stream(["Hi"])
    server.push(Reply(events=[*events[:2], responses_error("Rate limit reached"), *events[2:]]))
    response = client(server).chat(ask(), api="responses")
    with pytest.raises(ApiError, match="Rate limit reached") as caught:
        list(response)
    assert caught.value.code == "rate_limit_exceeded"


def test_a_failed_whole_body_is_an_api_error(server):
    body = responses_body("")
    body.update(status="failed", error={"code": "server_error", "message": "it broke"})
    server.push(Reply(body=body))
    with pytest.raises(ApiError, match="it broke"):
        client(server).complete(ask(), api="responses")


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter")],
)
def test_an_incomplete_reply_finishes_as_chat_completions_would(server, reason, finish):
    server.push(Reply(events=responses_stream(["Cut"], incomplete=reason)))
    response = client(server).chat(ask(), api="responses")
    assert response.text() == "Cut"
    assert response.finish_reason() == finish


def test_a_stream_cut_before_completed_is_incomplete(server):
    from aimlchat.errors import NetworkError

    server.push(Reply(events=responses_stream(["a", "b"])[:-1]))
    with pytest.raises(NetworkError, match="closed the stream early"):
        client(server).chat(ask(), api="responses").text()


# -- the body ----------------------------------------------------------------------------------


def test_the_body_sends_the_whole_conversation_and_stores_nothing(server):
    server.push(Reply(text=["ok"]))
    history = (
        user("look", [Image("data:image/png;base64,AAAA", "low")]),
        assistant("a cat", reasoning="pixels", citations=()),
        user("and now?"),
    )
    request = ChatRequest(
        model=RESPONSES_MODEL,
        messages=history,
        system="Be brief.",
        params={"max_tokens": 300, "reasoning_effort": "high", "temperature": 0.5, "verbosity": 1},
        format=OutputFormat({"type": "object"}, name="reply", strict=True),
    )
    client(server).chat(request, api="responses").text()
    body = server.responses_bodies()[0]
    assert body["store"] is False and body["stream"] is True
    assert body["instructions"] == "Be brief."
    assert body["max_output_tokens"] == 300
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["temperature"] == 0.5
    assert body["verbosity"] == 1  # a field of the user's own (-o), as it is
    assert body["text"] == {
        "format": {
            "type": "json_schema",
            "name": "reply",
            "schema": {"type": "object"},
            "strict": True,
        }
    }
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            ],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "a cat", "annotations": []}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "and now?"}],
        },
    ]
    for absent in ("messages", "stream_options", "max_tokens", "reasoning_effort"):
        assert absent not in body


def test_json_format_and_function_tools_in_the_responses_shape():
    body = responses.body(ask(format=OutputFormat(), tools=(WEATHER,), stream=False))
    assert body["text"] == {"format": {"type": "json_object"}}
    assert body["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {}}},
            "strict": False,
        }
    ]
    assert body["stream"] is False and "reasoning" not in body


def test_max_completion_tokens_wins_over_max_tokens():
    body = responses.body(ask(params={"max_completion_tokens": 900, "max_tokens": 100}))
    assert body["max_output_tokens"] == 900


@pytest.mark.parametrize(
    ("name", "flag"),
    [("seed", "--seed"), ("stop", "--stop"), ("frequency_penalty", "--frequency-penalty"),
     ("n", "-n"), ("top_k", "--top-k"), ("logprobs", "--logprobs")],
)  # fmt: skip
def test_a_parameter_the_responses_api_lacks_is_left_out_and_named_by_its_flag(name, flag):
    value = {"stop": ["x"], "n": 2, "logprobs": True}.get(name, 1)
    request = ask(params={name: value, "temperature": 0.5})
    assert name not in responses.body(request)
    (line,) = responses.unsent(request).values()
    assert line.startswith(f"{flag} is not sent: the Responses API has no such parameter")


def test_asking_for_nothing_it_lacks_is_not_mentioned():
    request = ask(params={"n": 1, "logprobs": False, "seed": None})
    assert not {"n", "logprobs", "seed"} & responses.body(request).keys()
    assert responses.unsent(request) == {}


def test_a_left_out_parameter_is_said_once_a_run_and_the_reply_comes(server):
    said: list[str] = []
    c = Client(base_url=server.base_url, api_key="k", timeout=10, retries=0, notice=said.append)
    server.push(Reply(text=["one"]), Reply(text=["two"]))
    request = ask(params={"seed": 7, "n": 3})
    assert c.chat(request, api="responses").text() == "one"
    assert c.chat(request, api="responses").text() == "two"
    assert said == [
        "--seed is not sent: the Responses API has no such parameter",
        "-n is not sent: the Responses API has no such parameter; one reply comes",
    ]
    assert not {"seed", "n"} & server.responses_bodies()[0].keys()


# -- odd shapes --------------------------------------------------------------------------------


def test_unknown_events_and_missing_fields_are_taken_in_stride():
    got = events_of(
        responses_event("response.created"),
        responses_event("response.web_search_call.searching", output_index=0),
        responses_event("response.something_new", whatever=[1]),
        responses_event("response.output_text.delta"),  # no delta
        responses_event("response.output_item.added", output_index=0, item={"type": "message"}),
        responses_event("response.output_text.annotation.added", annotation={"type": "file"}),
        responses_event("response.output_text.delta", delta="ok"),
        responses_event("response.completed", response={}),
    )
    assert got == [TextDelta("ok"), Finish("stop"), StreamEnd()]


def test_the_event_name_types_data_without_a_type():
    obj = responses.payload(SSEEvent(event="error", data='{"message": "bad key"}'))
    assert responses.stream_parser().chunk_events(obj) == [StreamError("bad key")]


def test_a_whole_body_without_output_is_a_protocol_error():
    from aimlchat.api.events import ProtocolError

    with pytest.raises(ProtocolError, match="no 'output'"):
        responses.body_events({"id": "x", "object": "response"})


def test_a_whole_body_with_only_an_error_object():
    assert responses.body_events({"error": {"message": "nope", "code": "x"}}) == [
        StreamError("nope", "x")
    ]


def test_usage_without_details_and_a_failed_response_without_an_error():
    got = responses.stream_parser().chunk_events(
        {"type": "response.failed", "response": {"usage": {"input_tokens": 3}}}
    )
    assert got == [Usage(3, 0, 3), StreamError("the response failed"), StreamEnd()]


def test_a_tool_message_without_output_and_an_empty_assistant():
    items = [
        item for m in (Message("tool", ()), assistant("")) for item in responses.input_items(m)
    ]
    assert items == [
        {"type": "function_call_output", "call_id": "", "output": ""},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "", "annotations": []}],
        },
    ]


def test_arguments_sent_as_an_object_are_json_text():
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"a": 1}}
    assert responses.body_events({"output": [item], "status": "completed"})[0] == ToolCallDelta(
        call=0, id="c", name="f", arguments=json.dumps({"a": 1})
    )


def test_a_proxy_answering_in_the_chat_completions_shape_is_still_read(server):
    from tests.loopback import completion

    server.push(Reply(body=completion("From a proxy.")))
    response = client(server).complete(ask(), api="responses")
    assert response.text() == "From a proxy."


def test_a_done_marker_after_the_last_event_is_taken_as_the_end(server):
    events = responses_stream(["a"])
    server.push(Reply(events=[*events[:-1], "data: [DONE]\n\n"]))  # no response.completed
    assert client(server).chat(ask(), api="responses").text() == "a"


# -- reasoning items: the thinking's state, sent back to the API that made it ---------------


def kept_item(secret: str, summary: str) -> dict:
    """A reasoning item as it goes back: id, type, encrypted content and summary."""
    return {
        "id": f"rs_{secret}",
        "type": "reasoning",
        "encrypted_content": secret,
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }


def test_the_body_asks_for_the_encrypted_reasoning_beside_the_users_own_include():
    assert responses.body(ask())["include"] == [ENCRYPTED]
    own = responses.body(ask(params={"include": ["message.output_text.logprobs"]}))
    assert own["include"] == ["message.output_text.logprobs", ENCRYPTED]
    assert responses.body(ask(params={"include": [ENCRYPTED]}))["include"] == [ENCRYPTED]
    # Kept on the server: nothing to carry.
    assert "include" not in responses.body(ask(params={"store": True}))


def test_a_streamed_reasoning_item_goes_back_before_its_call_exactly_as_received(server):
    calls = [("call_w", "weather", '{"city": "Paris"}')]
    events = responses_stream([], reasoning=["Look ", "it up."], calls=calls, per_chunk=4)
    server.push(Reply(events=encrypted(events, "enc-1")), Reply(text=["Sunny."]))
    c = client(server)
    first = c.chat(ask("weather?", tools=(WEATHER,)), api="responses")
    item = kept_item("enc-1", "Look it up.")
    assert first.opaque_reasoning() == {"api": "responses", "item": item}  # once, not twice
    assert first.reasoning() == "Look it up."
    history = (
        user("weather?"),
        assistant(
            calls=first.calls(),
            reasoning=first.reasoning(),
            opaque_reasoning=first.opaque_reasoning(),
        ),
        tool_output("call_w", "22 C"),
    )
    assert c.chat(ChatRequest(RESPONSES_MODEL, history, tools=(WEATHER,)), "responses").text()
    sent = server.responses_bodies()[1]["input"]
    kinds = [i["type"] for i in sent]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert sent[1] == item


def test_a_whole_bodys_reasoning_item_is_kept(server):
    server.push(Reply(body=encrypted_body(responses_body("Hi.", reasoning="Hm."), "enc-w")))
    response = client(server).complete(ask(), api="responses")
    assert response.opaque_reasoning() == {"api": "responses", "item": kept_item("enc-w", "Hm.")}
    assert response.reasoning() == "Hm." and response.text() == "Hi."


def test_a_reasoning_item_without_its_encrypted_content_is_not_kept(server):
    # With `store: false` the server cannot find an item by its id alone: sent back, it
    # would be refused ("not found"), so only the text is kept, as before.
    server.push(Reply(events=responses_stream(["Hi."], reasoning=["Hm."])))
    response = client(server).chat(ask(), api="responses")
    assert response.reasoning() == "Hm."
    assert response.opaque_reasoning() is None
    assert assistant("Hi.", reasoning="Hm.").parts[0].opaque is None


def test_a_reasoning_item_only_in_the_final_response_is_kept():
    item = {**kept_item("enc-9", ""), "status": "completed"}
    raws = [
        responses_event("response.output_text.delta", output_index=1, delta="ok"),
        responses_event("response.completed", response={"output": [item]}),
    ]
    response = Response([sse(raw) for raw in raws], responses)
    assert response.opaque_reasoning() == {"api": "responses", "item": kept_item("enc-9", "")}


def test_several_reasoning_items_are_kept_and_go_back_in_order():
    body = responses_body("Done.", reasoning="First.")
    second = {**body["output"][0], "summary": [{"type": "summary_text", "text": "Second."}]}
    body["output"].insert(1, second)
    response = Response([encrypted_body(body, "enc")], responses)
    items = [kept_item("enc", "First."), kept_item("enc-2", "Second.")]
    opaque = response.opaque_reasoning()
    assert opaque == {"api": "responses", "items": items}
    reply = assistant(response.text(), reasoning=response.reasoning(), opaque_reasoning=opaque)
    assert responses.input_items(reply) == [
        *items,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
        },
    ]


def test_another_apis_opaque_state_is_not_sent_as_a_reasoning_item():
    reply = assistant("x", reasoning="r", opaque_reasoning={"api": "other", "item": {"id": "1"}})
    assert [i["type"] for i in responses.input_items(reply)] == ["message"]


def test_chat_completions_never_sends_the_reasoning_items():
    call = ToolCall("c1", "weather", "{}")
    opaque = {"api": "responses", "item": kept_item("enc-1", "Hm.")}
    reply = assistant("x", calls=[call], reasoning="Hm.", opaque_reasoning=opaque)
    assert chat_completions.message_json(reply) == {
        "role": "assistant",
        "content": "x",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    }


# -- a server that refuses the include --------------------------------------------------------

REFUSED_INCLUDE = {
    "error": {
        "message": "Encrypted content is not supported with this model.",
        "type": "invalid_request_error",
        "param": "include",
        "code": None,
    }
}


def refuses_encrypted(request: dict) -> Reply:
    """A server whose model cannot give its reasoning back (OpenAI's 400 for it)."""
    if ENCRYPTED in (request.get("json") or {}).get("include", []):
        return Reply(status=400, body=REFUSED_INCLUDE)
    return Reply(text=["Fine."])


def test_a_refused_include_is_asked_once_more_without_it_and_then_left_out(server):
    server.script = refuses_encrypted
    c = client(server)
    assert c.chat(ask(), api="responses").text() == "Fine."
    assert c.chat(ask("again"), api="responses").text() == "Fine."  # no second refusal
    assert ["include" in b for b in server.responses_bodies()] == [True, False, False]


def test_the_users_own_include_stays_when_ours_is_refused(server):
    server.script = refuses_encrypted
    own = ["message.output_text.logprobs"]
    assert client(server).chat(ask(params={"include": own}), api="responses").text() == "Fine."
    assert [b["include"] for b in server.responses_bodies()] == [[*own, ENCRYPTED], own]


def test_a_refusal_of_what_the_user_asked_is_their_error(server):
    server.script = refuses_encrypted
    with pytest.raises(ApiError, match="include: Encrypted content is not supported"):
        client(server).chat(ask(params={"include": [ENCRYPTED]}), api="responses").text()
    assert len(server.responses_bodies()) == 1


def test_a_400_about_something_else_is_not_asked_again(server):
    refused = {"error": {"message": "Unsupported value", "param": "temperature"}}
    server.push(Reply(status=400, body=refused))
    with pytest.raises(ApiError, match="temperature"):
        client(server).chat(ask(), api="responses").text()
    assert len(server.responses_bodies()) == 1


# -- a reply not sent as deltas ----------------------------------------------------------------


def test_a_faked_stream_with_only_the_completed_response_gives_the_whole_reply(server):
    # Older LiteLLM, for a model that cannot stream (o1-pro): one `response.completed`.
    cites = [("https://a.example/x", "A")]
    whole = responses_body("All at once.", reasoning="Thought.", citations=cites)
    whole["output"].append(
        {"id": "fc_9", "type": "function_call", "call_id": "c9", "name": "f", "arguments": "{}"}
    )
    server.push(Reply(events=[responses_event("response.completed", response=whole)]))
    response = client(server).chat(ask(tools=(WEATHER,)), api="responses")
    assert response.text() == "All at once."
    assert response.reasoning() == "Thought."
    assert [c.url for c in response.citations()] == ["https://a.example/x"]
    assert response.calls() == [ToolCall("c9", "f", "{}")]
    assert response.finish_reason() == "tool_calls"


def test_message_items_sent_only_at_their_end_are_read_once(server):
    # A proxy that sends no delta: the items at their end, then the final response.
    first = {"id": "msg_1", "type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "One. ", "annotations": []}]}  # fmt: skip
    second = {**first, "id": "msg_2",
              "content": [{"type": "output_text", "text": "Two.", "annotations": []}]}  # fmt: skip
    final = responses_body("")
    final["output"] = [first, second]
    events = [
        responses_event("response.output_item.done", output_index=0, item=first),
        responses_event("response.output_item.done", output_index=1, item=second),
        responses_event("response.completed", response=final),
    ]
    server.push(Reply(events=events))
    assert client(server).chat(ask(), api="responses").text() == "One. Two."


def test_what_came_as_deltas_is_not_read_again_from_the_items_ends():
    raws = responses_stream(["Hi", "."], reasoning=["Hm."], citations=[("https://a.example", "A")])
    response = Response([sse(raw) for raw in raws], responses)
    assert (response.text(), response.reasoning()) == ("Hi.", "Hm.")
    assert len(response.citations()) == 1


# -- a call's arguments, whole or in pieces -----------------------------------------------------


def test_pieces_after_arguments_that_came_whole_are_not_added_to_them():
    added = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f",
             "arguments": '{"a":1}'}  # fmt: skip
    raws = [
        responses_event("response.output_item.added", output_index=0, item=added),
        responses_event("response.function_call_arguments.delta", item_id="fc_1", delta='{"a"'),
        responses_event("response.function_call_arguments.delta", item_id="fc_1", delta=":1}"),
        responses_event("response.output_item.done", output_index=0, item=added),
        responses_event("response.completed", response={"output": [added]}),
    ]
    response = Response([sse(raw) for raw in raws], responses)
    assert response.calls() == [ToolCall("c1", "f", '{"a":1}')]


# -- a stream in another shape, or with nothing in it -------------------------------------------


def test_chat_completions_chunks_streamed_on_the_responses_path_are_read(server):
    from tests.loopback import sse_reply

    server.push(Reply(events=sse_reply(["From", " a proxy."])))
    response = client(server).chat(ask(), api="responses")
    assert response.text() == "From a proxy."
    assert response.finish_reason() == "stop"


def test_a_stream_with_nothing_in_it_and_no_completed_is_an_error_not_an_empty_reply(server):
    from aimlchat.api.events import ProtocolError

    created = responses_event("response.created", response={"status": "in_progress"})
    server.push(Reply(events=[created, "data: [DONE]\n\n"]))
    with pytest.raises(ProtocolError, match=r"no reply and no response\.completed"):
        client(server).chat(ask(), api="responses").text()


# -- the body, odd servers --------------------------------------------------------------------


def test_an_image_without_a_detail_is_sent_with_detail_auto():
    (item,) = responses.input_items(user("look", [Image("https://x.example/cat.png")]))
    assert item["content"][1] == {
        "type": "input_image",
        "image_url": "https://x.example/cat.png",
        "detail": "auto",
    }


UNVERIFIED = {
    "error": {
        "message": "Your organization must be verified to generate reasoning summaries. "
        "Please go to: https://platform.openai.com/settings/organization/general",
        "type": "invalid_request_error",
        "param": "reasoning.summary",
        "code": "unsupported_value",
    }
}


def refuses_summaries(request: dict) -> Reply:
    """OpenAI for an organisation that is not verified."""
    if "summary" in ((request.get("json") or {}).get("reasoning") or {}):
        return Reply(status=400, body=UNVERIFIED)
    return Reply(text=["Thought, silently."])


def test_a_refused_reasoning_summary_is_asked_once_more_without_it_and_then_left_out(server):
    server.script = refuses_summaries
    c = client(server)
    effort = {"reasoning_effort": "high"}
    assert c.chat(ask(params=effort), api="responses").text() == "Thought, silently."
    assert c.chat(ask("again", params=effort), api="responses").text() == "Thought, silently."
    bodies = server.responses_bodies()
    assert [b["reasoning"] for b in bodies] == [
        {"effort": "high", "summary": "auto"},
        {"effort": "high"},
        {"effort": "high"},
    ]
    assert all(b["include"] == [ENCRYPTED] for b in bodies)  # the thinking still comes back


def test_a_summary_the_user_asked_for_and_is_refused_is_their_error(server):
    server.script = refuses_summaries
    own = {"reasoning": {"effort": "high", "summary": "detailed"}}
    with pytest.raises(ApiError, match="must be verified"):
        client(server).chat(ask(params=own), api="responses").text()
    assert len(server.responses_bodies()) == 1


# -- errors in the stream, by their code -------------------------------------------------------


def test_a_streamed_rate_limit_error_is_the_rate_limit_error(server):
    from aimlchat.errors import ExitCode

    events = responses_stream(["Hi"])
    server.push(Reply(events=[*events[:2], responses_error("Rate limit reached"), *events[2:]]))
    with pytest.raises(ApiError) as caught:
        client(server).chat(ask(), api="responses").text()
    assert caught.value.exit_code == ExitCode.RATE_LIMITED
    assert caught.value.message == (
        "the server stopped the reply: Rate limit reached (rate_limit_exceeded)"
    )


def test_a_failed_response_out_of_quota_exits_3_with_a_hint_about_credits(cli_env, server):
    from tests.conftest import invoke

    events = responses_failed("You exceeded your current quota.", "insufficient_quota")
    server.push(Reply(events=events))
    r = invoke(["ask", "--no-history", "--api", "responses", "hi"], cli_env)
    assert r.returncode == 3, r.stderr
    assert "You exceeded your current quota. (insufficient_quota)" in r.stderr
    assert "credits" in r.stderr


def test_a_chat_completions_stream_error_is_mapped_by_its_code_too(server):
    from aimlchat.errors import RateLimitError
    from tests.loopback import chunk

    error = {"error": {"message": "Slow down", "code": "rate_limit_exceeded"}}
    server.push(Reply(events=[chunk("a"), f"data: {json.dumps(error)}\n\n"]))
    with pytest.raises(RateLimitError, match="stopped the reply: Slow down"):
        client(server).chat(ask(), api="chat").text()


# -- parameters the API lacks, set in config.toml ----------------------------------------------


def test_a_seed_in_config_does_not_stop_a_responses_model(cli_env, server, home):
    from tests.conftest import invoke
    from tests.loopback import responses_script

    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text("[params]\nseed = 7\n")
    server.script = responses_script(0)
    r = invoke(["ask", "-m", RESPONSES_MODEL, "hi"], cli_env)  # falls back from chat
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("You asked over /v1/responses: hi")
    notices = [line for line in r.stderr.splitlines() if "--seed" in line]
    assert notices == ["aimlchat: --seed is not sent: the Responses API has no such parameter"]
    assert "seed" not in server.responses_bodies()[0]


# -- citations --------------------------------------------------------------------------------


def test_citations_are_cleaned_as_chat_completions_cleans_them(server):
    cites = [("https://a.example/x ", " A "), ("https://a.example/x", "A")]
    server.push(Reply(events=responses_stream(["Cited."], citations=cites)))
    response = client(server).chat(ask(web_search="low"), api="responses")
    assert [(c.url, c.title) for c in response.citations()] == [("https://a.example/x", "A")]


# -- --scenario tools over /v1/responses ------------------------------------------------------


def test_the_tools_scenario_answers_the_responses_path_in_its_shape(server):
    from tests.loopback_tools import tools_script

    server.script = tools_script
    c = client(server)
    first = c.chat(ask("weather?", tools=(WEATHER,)), api="responses")
    (call,) = first.calls()
    assert (call.name, call.arguments()) == ("weather", {"city": "Paris"})
    history = (user("weather?"), assistant(calls=[call]), tool_output(call.id, "22 C"))
    second = c.chat(ChatRequest(RESPONSES_MODEL, history, tools=(WEATHER,)), "responses")
    assert "> 22 C" in second.text()


def test_a_call_placed_elsewhere_in_the_final_response_gets_its_arguments_once():
    added = {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": []}
    raws = [
        responses_event("response.output_item.added", output_index=5, item=added),
        responses_event(
            "response.completed", response={"output": [reasoning, {**added, "arguments": "{}"}]}
        ),
    ]
    response = Response([sse(raw) for raw in raws], responses)
    assert response.calls() == [ToolCall("c1", "f", "{}")]
