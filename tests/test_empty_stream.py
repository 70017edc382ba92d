"""A streamed request answered 200 with no event at all (llama.cpp's Python server, when
the prompt overflows its window): asked once more without streaming, to learn why.
Loopback server."""

from __future__ import annotations

import pytest

from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply, completion
from tests.loopback_tools import context_error, text_reply

NOTICE = "the server sent an empty stream; asking once more without streaming to learn why"

# The empty answers a server may give a streamed request: an event stream that ends at
# once (chunked, or closed), a blank body, comments (keep-alives) and no event.
EMPTY = {
    "stream": Reply(events=[]),
    "closed": Reply(events=[], mode="close"),
    "blank-body": Reply(body=b"", content_type="text/event-stream"),
    "keep-alives": Reply(events=[": ping\n\n", ": ping\n\n"]),
    "plain-empty": Reply(body=b""),
}


def history_of(cli_env: dict[str, str], turns: int) -> None:
    for i in range(turns):
        said = f"question {i}: " + "tell me more about this please. " * 10
        assert invoke(["ask", "--continue", said], cli_env).returncode == 0


@pytest.mark.parametrize("empty", sorted(EMPTY))
def test_an_empty_stream_then_a_whole_reply_prints_it(cli_env, server: LoopbackServer, empty):
    server.push(EMPTY[empty], Reply(body=completion("Learned it.")))
    r = invoke(["ask", "hello"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Learned it.\n"
    assert r.stderr.count(NOTICE) == 1
    streamed, whole = server.chat_bodies()  # exactly two requests
    assert streamed["stream"] is True
    assert whole["stream"] is False and "stream_options" not in whole
    assert whole["messages"] == streamed["messages"]


def test_an_empty_stream_then_a_context_error_trims_and_succeeds(cli_env, server):
    history_of(cli_env, 6)
    server.push(Reply(events=[]), context_error("openai"), text_reply("Fine now."))
    r = invoke(["ask", "--continue", "one more"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Fine now.\n"
    assert NOTICE in r.stderr
    assert "the server says the context is too long; retrying once" in r.stderr
    empty, refused, retried = server.chat_bodies()[6:]  # exactly three requests
    assert refused["stream"] is False and retried["stream"] is True
    assert len(retried["messages"]) < len(refused["messages"]) == len(empty["messages"])


def test_an_empty_stream_then_a_context_error_with_nothing_to_leave_out_exits_2(cli_env, server):
    server.push(Reply(events=[]), context_error("openai"))
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 2, r.stderr
    assert "the server says the message is too long" in r.stderr
    assert "(2.8k tokens; it takes 2k)" in r.stderr  # the server's numbers: the real error
    assert len(server.chat_bodies()) == 2


def test_an_empty_stream_then_another_400_reports_it(cli_env, server):
    server.push(Reply(events=[]), Reply(status=400, body={"error": {"message": "bad tools"}}))
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 1
    assert "bad tools" in r.stderr
    assert "incomplete" not in r.stderr
    assert len(server.chat_bodies()) == 2


@pytest.mark.parametrize(
    "second",
    [Reply(body=b""), Reply(events=[]), Reply(body=b"", content_type="application/json")],
    ids=["empty-body", "empty-stream", "empty-json"],
)
def test_empty_twice_is_one_clear_error_and_no_loop(cli_env, server, second):
    server.push(Reply(events=[]), second)
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 1, r.stderr
    assert "empty" in r.stderr and "no reply and no error" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(server.chat_bodies()) == 2


def test_an_unstreamed_retry_that_is_not_json_is_an_invalid_response(cli_env, server):
    server.push(Reply(events=[]), Reply(body=b"<html>oops</html>", content_type="text/html"))
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 1
    assert "invalid response from server" in r.stderr
    assert len(server.chat_bodies()) == 2


def test_a_stream_that_said_something_then_ended_is_incomplete_not_retried(cli_env, server):
    events = text_reply("Half a reply that never").events or []
    server.push(Reply(events=events[:2]))  # two chunks, no finish, no [DONE]
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 4
    assert "incomplete" in r.stderr and NOTICE not in r.stderr
    assert len(server.chat_bodies()) == 1


def test_an_empty_unstreamed_reply_is_still_an_invalid_response(cli_env, server):
    """Only a streamed request is asked again: an unstreamed one learned nothing new."""
    server.push(Reply(body=b""))
    r = invoke(["ask", "--no-stream", "a question"], cli_env)
    assert r.returncode == 1
    assert "invalid response from server" in r.stderr and NOTICE not in r.stderr
    assert len(server.chat_bodies()) == 1
