from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aimlchat.sse import SSEDecoder, SSEEvent
from tests.loopback import sse_reply


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    d = SSEDecoder()
    events = []
    for c in chunks:
        events += d.feed(c)
    return events + d.finish()


def test_data_lines_with_and_without_space_are_the_same():
    assert decode([b"data: x\n\ndata:x\n\n"]) == [SSEEvent("x"), SSEEvent("x")]


def test_comments_and_keepalives_are_ignored():
    assert decode([b": keep-alive\n\n:\ndata: y\n\n"]) == [SSEEvent("y")]


def test_crlf_and_cr_line_endings():
    assert decode([b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]) == [
        SSEEvent("a"),
        SSEEvent("b"),
        SSEEvent("c"),
    ]


def test_crlf_split_across_chunks_is_one_line_end():
    assert decode([b"data: a\r", b"\n\r", b"\n"]) == [SSEEvent("a")]


def test_multi_line_data_is_joined_with_newlines():
    assert decode([b"data: one\ndata: two\n\n"]) == [SSEEvent("one\ntwo")]


def test_event_name_and_unknown_fields():
    assert decode([b"event: error\nretry: 10\nfoo: bar\ndata: {}\n\n"]) == [
        SSEEvent("{}", event="error")
    ]


def test_last_event_without_blank_line_is_kept():
    assert decode([b"data: [DONE]"]) == [SSEEvent("[DONE]")]


def test_utf8_split_inside_a_character():
    raw = "data: héllo €\n\n".encode()
    assert decode([raw[:8], raw[8:16], raw[16:]]) == [SSEEvent("héllo €")]


STREAM = "".join(sse_reply(["Hé", "llo ", "wörld ", "€ and 🎉"])).encode()


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_split_of_a_stream_yields_the_same_events(cuts):
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=False)]
    assert decode(pieces) == decode([STREAM])


def test_one_byte_chunks_yield_the_same_events():
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == decode([STREAM])


@given(st.lists(st.binary(max_size=64), max_size=10))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_fail_the_decoder(chunks):
    for event in decode(chunks):
        assert isinstance(event.data, str)


def test_the_module_knows_nothing_of_chat_completions():
    import aimlchat.sse as sse

    assert not {"interpret", "Delta", "Usage", "Finish", "StreamError", "Done"} & set(vars(sse))
