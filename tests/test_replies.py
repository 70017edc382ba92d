"""The protocol layer through the CLI, in process against the loopback server: compressed
streams, real servers' shapes, every choice of -n, the content filter, field errors, and
how a cut reply is labelled. Pure parsing is in test_protocol."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import TEST_KEY, invoke
from tests.loopback import Reply, chunk, completion, sse_reply

# -- on the wire: encodings, real-server shapes, choices -----------------------------------


@pytest.mark.parametrize("mode", ["chunked", "close"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_stream_prints_the_exact_reply(cli_env, server, mode, encoding):
    text = "Grüße, 🎉 " * 500
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    server.push(Reply(events=sse_reply(pieces), mode=mode, encoding=encoding))
    r = invoke(["ask", "hi"], cli_env)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == text.encode() + b"\n"
    assert server.requests[0]["headers"]["Accept-Encoding"] == "identity"


def test_compressed_whole_body_is_read(cli_env, server):
    server.push(Reply(body=completion("zipped"), encoding="gzip"))
    r = invoke(["ask", "--no-stream", "hi"], cli_env)
    assert (r.returncode, r.stdout) == (0, b"zipped\n")


def test_a_stream_in_an_encoding_we_cannot_undo_is_one_clear_line(cli_env, server):
    server.push(Reply(events=sse_reply(["x"]), headers={"Content-Encoding": "br"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.count("\n") == 1 and "encoded as br" in r.stderr


LITELLM_STREAM = [
    'data: {"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}\n\n',
    'data: {"id":"x","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null}],'
    '"usage":null}\n\n',
    'data: {"id":"x","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],'
    '"system_fingerprint":"fp"}\n\n',
    'data: {"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,'
    '"total_tokens":5,"completion_tokens_details":null}}\n\n',
    "data: [DONE]\n\n",
]


def test_a_litellm_shaped_stream_prints_and_counts(cli_env, server):
    server.push(Reply(events=LITELLM_STREAM))
    r = invoke(["ask", "--usage", "hi"], cli_env)
    assert (r.returncode, r.stdout) == (0, b"Hello\n")
    assert "3 prompt + 2 completion = 5" in r.stderr


def test_done_ends_the_reply_though_the_server_keeps_the_socket_open(cli_env, server):
    # Before: the reply was read on to the socket's end, and a proxy that holds the
    # connection after [DONE] made it fail with a timeout (exit 4) after printing.
    events = [*sse_reply(["quick"]), ": still here\n\n"]
    server.push(Reply(events=events, stall_after=len(events) - 1, stall_for=5))
    start = time.monotonic()
    r = invoke(["ask", "--timeout", "3", "hi"], cli_env)
    assert (r.returncode, r.stdout) == (0, b"quick\n")
    assert time.monotonic() - start < 2


def test_json_when_the_server_streams_anyway_is_an_assembled_completion(cli_env, server):
    server.push(Reply(events=sse_reply(["str", "eamed"])))
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["object"] == "chat.completion" and obj["choices"][0]["finish_reason"] == "stop"
    assert obj["choices"][0]["message"] == {"role": "assistant", "content": "streamed"}
    assert obj["usage"]["total_tokens"] == 12


def test_ndjson_of_a_non_streamed_reply_has_every_choice(cli_env, server):
    server.script = lambda req: Reply(body=completion("A", 2))
    r = invoke(["ask", "-n", "2", "--ndjson", "hi"], cli_env)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [(e["type"], e.get("index")) for e in events] == [
        ("delta", 0),
        ("finish", 0),
        ("delta", 1),
        ("finish", 1),
        ("usage", None),
    ]


def _rows(cli_env):
    import sqlite3
    from pathlib import Path

    db = Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT role, content, status FROM messages ORDER BY id").fetchall()
    return [(role, _plain(content), status) for role, content, status in rows]


def _plain(content: str) -> str:
    try:  # stored JSON-encoded, or as plain text once the store says so
        value = json.loads(content)
    except ValueError:
        return content
    return value if isinstance(value, str) else content


def test_every_choice_of_n_is_saved_and_only_the_first_is_sent_on(cli_env, server):
    server.script = lambda req: Reply(body=completion("A", 3))
    r = invoke(["ask", "-n", "3", "hi"], cli_env)
    assert r.stdout == b"A\n\n---\n\nA (2)\n\n---\n\nA (3)\n"
    assert _rows(cli_env) == [
        ("user", "hi", "ok"),
        ("assistant", "A", "ok"),
        ("assistant", "A (2)", "choice"),
        ("assistant", "A (3)", "choice"),
    ]
    server.script = lambda req: Reply(body=completion("B"))
    invoke(["ask", "-c", "--no-stream", "next"], cli_env)
    sent = [m["content"] for m in server.chat_bodies()[-1]["messages"]]
    assert sent == ["hi", "A", "next"]


# -- errors: content filter, field errors, error bodies, labels -----------------------------


def error_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if "retrying" not in line]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_content_filter_is_an_error_keeping_the_partial_reply(cli_env, server):
    server.push(
        Reply(events=[chunk("so far "), chunk(finish="content_filter"), "data: [DONE]\n\n"])
    )
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and r.stdout == b"so far \n"
    assert "content filter" in error_line(r)
    assert (
        "## assistant [incomplete]\n\nso far"
        in invoke(["history", "show"], cli_env).stdout.decode()
    )


def test_content_filter_before_any_text_is_no_reply_at_all(cli_env, server):
    server.push(Reply(events=[chunk(finish="content_filter"), "data: [DONE]\n\n"]))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and r.stdout == b""
    assert "content filter stopped the reply before any text" in error_line(r)
    assert "## assistant" not in invoke(["history", "show"], cli_env).stdout.decode()


def test_content_filter_with_json_prints_the_body_then_fails(cli_env, server):
    body = completion("cut")
    body["choices"][0]["finish_reason"] = "content_filter"
    server.push(Reply(body=body))
    r = invoke(["ask", "--json", "hi"], cli_env)
    assert r.returncode == 1 and json.loads(r.stdout) == body
    assert "content filter" in error_line(r)


@pytest.mark.parametrize(
    "body",
    [
        {
            "message": "Bad Request",
            "statusCode": 400,
            "errors": [
                {"path": "temperature", "message": "must be ≤ 2"},
                {"path": "top_p", "message": "must be > 0"},
            ],
        },
        {
            "detail": [
                {"loc": ["body", "temperature"], "msg": "must be ≤ 2"},
                {"loc": ["body", "top_p"], "msg": "must be > 0"},
            ]
        },
    ],
)
def test_a_400_names_each_field_and_its_message(cli_env, server, body):
    server.push(Reply(status=400, body=body))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1
    assert "HTTP 400: temperature: must be ≤ 2; top_p: must be > 0" in error_line(r)


def test_debug_prints_the_error_body_redacted_and_capped(cli_env, server):
    server.push(Reply(status=400, body={"message": f"bad key {TEST_KEY}", "pad": "x" * 5000}))
    r = invoke(["ask", "--debug", "hi"], cli_env)
    (line,) = [x for x in r.stderr.splitlines() if "error body" in x]
    assert "bad key ***" in line and TEST_KEY not in r.stderr
    assert len(line) < 2200 and "bytes)" in line


def test_a_dropped_stream_is_labelled_incomplete_on_screen_as_in_history(cli_env, server):
    server.push(Reply(events=sse_reply(["kept ", "text ", "lost"]), drop_after=2))
    r = invoke(["ask", "hi"], cli_env, stdout_tty=True)
    assert r.returncode == 4
    screen = r.stdout.decode()
    assert "kept text" in screen and "[incomplete]" in screen and "interrupted" not in screen
    assert "## assistant [incomplete]" in invoke(["history", "show"], cli_env).stdout.decode()


@pytest.mark.parametrize("status", ["interrupted", "incomplete"])
def test_the_terminal_renderer_shows_how_a_reply_ended(status):
    import io

    from aimlchat.terminal.render import MarkdownSink

    out = io.StringIO()
    sink = MarkdownSink(out, color=False, code_theme="monokai", live=False)
    sink.feed("partial")
    sink.finish(status=status)
    # Before: rich read "[interrupted]" as markup and printed nothing at all.
    assert out.getvalue().rstrip().endswith(f"[{status}]")


def test_a_200_carrying_an_error_object_is_one_error_line(cli_env, server):
    server.push(Reply(body={"error": {"message": "model overloaded", "code": 503}}))
    r = invoke(["ask", "--no-stream", "hi"], cli_env)
    assert r.returncode == 1 and r.stdout == b""
    assert "server error: model overloaded" in error_line(r)
