"""The Response object (events as they arrive, then text, finish, usage, JSON) and the
Content-Encoding inflater. Pure: a stand-in source, no socket; the wire is in test_replies."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from aimlchat.api.events import Finish, TextDelta, Usage
from aimlchat.api.response import Response
from aimlchat.errors import ApiError, NetworkError
from aimlchat.inflate import Inflater
from aimlchat.sse import SSEDecoder, SSEEvent
from tests.loopback import chunk, completion, sse_reply


def sse(*raws: str) -> list[SSEEvent]:
    d = SSEDecoder()
    return [e for raw in raws for e in d.feed(raw.encode())] + d.finish()


# -- Response --------------------------------------------------------------------------


class Source:
    """A stand-in for the client's generator that records how far it was read."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.read = 0
        self.closed = False

    def __iter__(self) -> Source:
        return self

    def __next__(self) -> Any:
        if self.read >= len(self.items):
            raise StopIteration
        self.read += 1
        return self.items[self.read - 1]

    def close(self) -> None:
        self.closed = True


def streamed(*raws: str) -> Response:
    return Response(Source(sse(*raws)))


def test_a_streamed_response_yields_events_then_knows_the_reply():
    r = streamed(*sse_reply(["Hel", "lo"]))
    assert [e for e in r] == [TextDelta("Hel"), TextDelta("lo"), Finish("stop"), Usage(10, 2, 12)]
    assert r.text() == "Hello" and r.texts() == ["Hello"] and r.finish_reason() == "stop"
    assert r.usage == Usage(10, 2, 12) and r.done
    assert list(r) == [TextDelta("Hel"), TextDelta("lo"), Finish("stop"), Usage(10, 2, 12)]


def test_accessors_read_a_response_nobody_iterated():
    r = Response(Source([completion("A", n=3)]))
    assert r.texts() == ["A", "A (2)", "A (3)"] and r.finish_reason(2) == "stop"


def test_json_is_the_body_as_sent_or_a_completion_assembled_from_chunks():
    body = completion("A")
    assert Response(Source([body])).json() is body
    r = streamed(
        chunk(None)
        + chunk("x", index=1)
        + chunk("y", finish="stop")
        + chunk(finish="length", index=1),
        'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,'
        ' "completion_tokens_details": {"reasoning_tokens": 1}}}\n\n',
        "data: [DONE]\n\n",
    )
    obj = r.json()
    assert obj["id"] == "chatcmpl-test" and obj["object"] == "chat.completion"
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in obj["choices"]] == [
        (0, "y", "stop"),
        (1, "x", "length"),
    ]
    assert obj["usage"]["completion_tokens_details"] == {"reasoning_tokens": 1}


def test_tool_call_pieces_are_assembled_by_index():
    parts = ['{"ci', 'ty": ', '"Paris"}']
    raws = [
        f"data: {json.dumps({'choices': [{'delta': {'tool_calls': [call]}}]})}\n\n"
        for call in [
            {
                "index": 0,
                "id": "c1",
                "type": "function",
                "function": {"name": "w", "arguments": ""},
            },
            *({"index": 0, "function": {"arguments": p}} for p in parts),
        ]
    ]
    r = streamed(*raws, 'data: {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}\n\n')
    (call,) = r.tool_calls()
    assert call["id"] == "c1" and call["function"] == {
        "name": "w",
        "arguments": '{"city": "Paris"}',
    }
    assert r.json()["choices"][0]["message"]["content"] is None


def test_the_done_marker_ends_reading_even_if_the_server_goes_on():
    source = Source(sse(*sse_reply(["a"]), chunk("after the end")))
    r = Response(source)
    assert r.text() == "a" and source.closed and source.read == 4


def test_a_stream_that_stops_before_its_end_is_incomplete():
    r = streamed(chunk("part"))
    with pytest.raises(NetworkError, match="closed the stream early"):
        list(r)
    assert r.text() == "part" and not r.done


def test_a_stream_whose_every_choice_finished_needs_no_done_marker():
    r = streamed(chunk("x"), chunk(finish="stop"))
    assert r.text() == "x" and r.done


def test_an_error_event_mid_stream_raises_and_keeps_what_came():
    r = streamed(chunk("start "), 'data: {"error": {"message": "crashed"}}\n\n')
    with pytest.raises(ApiError, match="the server stopped the reply: crashed"):
        list(r)
    assert r.text() == "start "


def test_an_abandoned_response_is_closed_not_read_on():
    source = Source(sse(*sse_reply(["a", "b", "c"])))
    r = Response(source)
    for _event in r:
        break
    r.close()
    assert source.closed and source.read == 1 and r.text() == "a" and not r.done


# -- Content-Encoding -----------------------------------------------------------------------

EVENTS = [e.encode() for e in sse_reply(["Hé", "llo"])]


def compressed(wbits: int) -> list[bytes]:
    z = zlib.compressobj(wbits=wbits)
    return [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in EVENTS] + [z.flush()]


@pytest.mark.parametrize("coding, wbits", [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_each_flushed_piece_inflates_to_its_event_at_once(coding, wbits):
    inflater = Inflater.for_header(coding)
    assert inflater is not None
    assert [inflater.feed(piece) for piece in compressed(wbits)] == [*EVENTS, b""]


def test_a_gzip_stream_split_anywhere_inflates_the_same():
    data = b"".join(compressed(31))
    inflater = Inflater("gzip")
    assert b"".join(inflater.feed(data[i : i + 1]) for i in range(len(data))) == b"".join(EVENTS)


def test_gzip_members_one_after_another():
    # gzip.compress, not zlib.compress(wbits=): the keyword is 3.11+.
    two = gzip.compress(b"data: a\n\n") + gzip.compress(b"data: b\n\n")
    assert Inflater("gzip").feed(two) == b"data: a\n\ndata: b\n\n"


@pytest.mark.parametrize("header", [None, "", "identity"])
def test_no_encoding_needs_no_inflater(header):
    assert Inflater.for_header(header) is None


@pytest.mark.parametrize("header", ["br", "zstd", "gzip, br"])
def test_an_encoding_we_cannot_undo_is_a_clear_error(header):
    with pytest.raises(ApiError, match="cannot decode"):
        Inflater.for_header(header)


def test_a_corrupt_gzip_stream_is_an_api_error():
    with pytest.raises(ApiError, match="corrupt"):
        Inflater("gzip").feed(b"\x1f\x8b\x08\x00garbage-garbage")
