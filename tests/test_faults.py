"""Fault injection: each case a real socket (or a real process, for signals and the
umask), an exit code, one stderr line, no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, invoke, popen_ask, run_cli, spawn
from tests.loopback import Reply, chunk, sse_reply


def one_line_error(r):
    err = r.stderr
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "retrying" not in line]
    assert len(lines) == 1, err
    return lines[0]


def history(env) -> str:
    return invoke(["history", "show"], env).stdout.decode()


def test_429_with_retry_after_is_retried_then_succeeds(cli_env, server):
    server.push(Reply(status=429, body={"message": "slow down"}, headers={"Retry-After": "0"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and "retrying" in r.stderr


def test_429_exhausted_exits_5(cli_env, server):
    server.push(
        *[
            Reply(
                status=429,
                body={"message": "slow down", "statusCode": 429},
                headers={"Retry-After": "0"},
            )
            for _ in range(3)
        ]
    )
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 5 and "slow down" in one_line_error(r)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(cli_env, server, status):
    server.push(Reply(status=status, body="oops", headers={"Retry-After": "0"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and r.stderr.count("retrying") == 1


def test_connection_refused_exits_4(cli_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = invoke(
        ["ask", "--retries", "0", "hi", "--base-url", f"http://127.0.0.1:{port}/v1"], cli_env
    )
    assert r.returncode == 4 and "connection refused" in one_line_error(r)


def test_dns_failure_exits_4(cli_env):
    r = invoke(
        ["ask", "--retries", "0", "hi", "--base-url", "https://no-such-host.invalid/v1"], cli_env
    )
    assert r.returncode == 4 and "cannot resolve" in one_line_error(r)


def test_read_timeout_before_first_byte_exits_4(cli_env, server):
    # With the default --retries: a request that may have reached the server is not resent.
    server.push(Reply(events=sse_reply(["late"]), header_delay=3))
    r = invoke(["ask", "--timeout", "0.5", "hi"], cli_env)
    assert r.returncode == 4 and "within 0.5s" in one_line_error(r)
    assert "may have been billed" in r.stderr and len(server.chat_bodies()) == 1


def test_stall_mid_stream_beyond_timeout_keeps_partial(cli_env, server):
    server.push(Reply(events=sse_reply(["part ", "never"]), stall_after=1, stall_for=3))
    r = invoke(["ask", "--timeout", "0.5", "hi"], cli_env)
    assert r.returncode == 4 and r.stdout == b"part \n"
    assert "incomplete" in one_line_error(r)
    assert "[incomplete]" in history(cli_env)


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_dropped_connection_mid_stream_keeps_partial_and_exits_4(cli_env, server, mode):
    server.push(Reply(events=sse_reply(["kept ", "text ", "lost"]), drop_after=2, mode=mode))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 4 and r.stdout == b"kept text \n"
    assert "incomplete" in one_line_error(r)
    assert "kept text" in history(cli_env)


def test_malformed_sse_line_is_an_api_error(cli_env, server):
    server.push(Reply(events=[chunk("ok "), "data: {broken\n\n"]))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and r.stdout == b"ok \n"
    assert "malformed" in one_line_error(r)


def test_error_object_mid_stream(cli_env, server):
    server.push(Reply(events=[chunk("start "), 'data: {"error": {"message": "crashed"}}\n\n']))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and "crashed" in one_line_error(r)
    assert r.stdout == b"start \n"


def test_200_with_html_body(cli_env, server):
    server.push(Reply(body="<html>login</html>", content_type="text/html"))
    r = invoke(["ask", "--no-stream", "hi"], cli_env)
    assert r.returncode == 1 and "expected JSON, got text/html" in one_line_error(r)


def test_200_with_invalid_json(cli_env, server):
    server.push(Reply(body='{"choices": [', content_type="application/json"))
    r = invoke(["ask", "--no-stream", "hi"], cli_env)
    assert r.returncode == 1 and "invalid response" in one_line_error(r)


@pytest.mark.parametrize("status, code", [(401, 3), (403, 3), (404, 1), (400, 1)])
@pytest.mark.parametrize(
    "shape",
    [
        lambda m: {"message": m, "statusCode": 400, "requestId": "rid-1", "path": "/v1/x"},
        lambda m: {"error": {"message": m, "type": "invalid_request_error", "code": "x"}},
        lambda m: {"detail": m},
    ],
)
def test_error_bodies_of_every_shape(cli_env, server, status, code, shape):
    server.push(Reply(status=status, body=shape("the server says no")))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == code
    line = one_line_error(r)
    assert f"HTTP {status}" in line and "the server says no" in line


def test_ten_megabyte_reply_streams_through(cli_env, server):
    piece = "0123456789" * 100
    server.push(Reply(events=sse_reply([piece] * 10_000, usage=False)))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and len(r.stdout) == 10_000_001


def _running_ask(cli_env, server, **kw):
    server.push(Reply(events=sse_reply([f"t{i} " for i in range(400)]), delay=0.02, **kw))
    proc = popen_ask(cli_env)
    assert proc.stdout is not None
    first = proc.stdout.read(3)
    return proc, first


def test_sigint_during_a_reply_exits_130_with_partial_kept(cli_env, server):
    proc, first = _running_ask(cli_env, server)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and b"Traceback" not in err
    assert (first + out).startswith(b"t0 ")
    assert "[interrupted]" in history(cli_env)


def test_sigint_before_the_first_byte_exits_130(cli_env, server):
    server.push(Reply(events=sse_reply(["x"]), header_delay=5))
    proc = popen_ask(cli_env)
    deadline = time.time() + 10
    while not server.requests and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and out == b"" and b"Traceback" not in err


def test_sigterm_mid_reply_leaves_history_consistent(cli_env, server):
    proc, _ = _running_ask(cli_env, server)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143 and b"Traceback" not in err
    text = history(cli_env)
    assert "## user" in text and "[interrupted]" in text and "t0" in text


def test_read_only_data_dir_still_prints_the_reply(cli_env, server, home):
    if os.geteuid() == 0:
        # root ignores file modes; a data dir that is a file fails the same way
        (home / "data" / "aimlchat").write_text("not a directory")
    else:
        (home / "data").chmod(0o500)
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and r.stdout == b"Hello from the loopback server.\n"
    assert "history is not being saved" in r.stderr and "Traceback" not in r.stderr


def test_corrupt_history_database_is_a_clear_error(cli_env, server, home):
    db = home / "data" / "aimlchat" / "history.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not sqlite" * 100)
    r = invoke(["history", "list"], cli_env)
    assert r.returncode == 1 and "damaged" in one_line_error(r)
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and "history is not being saved" in r.stderr


def test_ten_megabyte_stdin_is_refused_naming_the_limit(cli_env, server):
    r = invoke(["ask", "hi"], cli_env, input=b"x" * (10 * 1024 * 1024))
    assert r.returncode == 2 and "8 MB limit" in one_line_error(r)
    assert server.requests == []


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--temperature", "-1"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--max-completion-tokens", "0"], "completion"),
        (["-n", "0"], "--n"),
        (["--seed", "-1"], "--seed"),
        (["--frequency-penalty", "3"], "frequency"),
        (["--presence-penalty", "-3"], "presence"),
        (["--min-p", "1"], "--min-p"),
        (["--top-logprobs", "21"], "top-logprobs"),
        (["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d", "--stop", "e"], "at most 4"),
        (["--timeout", "0"], "--timeout"),
        (["--bogus"], "No such option"),
        (["-o", "x={bad"], "invalid JSON"),
        (["-o", "novalue"], "KEY=VALUE"),
        (["--base-url", "ftp://x"], "invalid base URL"),
        (["--base-url", "http://api.example.com/v1"], "plain http"),
        (["--image-detail", "max", "-a", "https://x/y.png"], "--image-detail"),
    ],
)
def test_bad_input_is_a_usage_error_without_a_request(cli_env, server, args, needle):
    r = invoke(["ask", "hi", *args], cli_env)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert server.requests == []


def test_key_never_leaks_even_when_the_server_echoes_it(cli_env, server):
    server.push(Reply(status=400, body={"message": f"bad key {TEST_KEY}"}))
    r = invoke(["ask", "--debug", "hi"], cli_env)
    server.push(Reply(events=sse_reply([f"echo {TEST_KEY}"])))
    r2 = invoke(["ask", "--debug", "hi"], cli_env)
    assert TEST_KEY.encode() not in r.stdout
    for err in (r.stderr, r2.stderr):
        assert TEST_KEY not in err
    assert "***" in r.stderr
    db = Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "SECRET" not in dump.replace(f"echo {TEST_KEY}", "")  # the model's own text aside


def test_history_files_are_private_under_a_permissive_umask(cli_env, server, home):
    old = os.umask(0)
    try:
        run_cli(["ask", "hi"], cli_env)
    finally:
        os.umask(old)
    data = home / "data" / "aimlchat"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    for f in data.iterdir():
        assert oct(f.stat().st_mode & 0o777) == "0o600", f


ESCAPES = (
    "\x1b]8;;http://evil/\x07click\x1b]8;;\x07"  # OSC 8 hyperlink
    "A\x1b]0;PWNED\x07B\x1b[2JC\x1b]52;c;aGk=\x07D\x1bP1$q\x1b\\E\x9b31mF\x07G[bold red]H[/]"
)


def test_escape_sequences_never_reach_the_terminal_raw(cli_env, server):
    for raw in ([], ["--raw"]):
        server.push(Reply(events=sse_reply([ESCAPES, " [link](http://x)"])))
        child = spawn(["ask", "hi", *raw], cli_env)
        out = child.read()
        for bad in ("\x1b]0;", "\x1b[2J", "\x1b]52", "\x1bP", "\x9b", "\x07", "\x1b]8;"):
            assert bad not in out, (raw, bad)
        assert "^[]0;PWNED" in out and "[bold" in out and "red]H[/]" in out  # literal markup


def test_server_error_text_is_made_safe_on_a_terminal(cli_env, server):
    server.push(Reply(status=400, body={"message": "bad\x1b]0;PWNED\x07 thing"}))
    child = spawn(["ask", "hi"], cli_env)
    out = child.read()
    assert "\x1b]0;" not in out and "^[]0;PWNED" in out


def test_ndjson_reports_errors_as_an_event(cli_env, server):
    server.push(Reply(events=sse_reply(["a "]), drop_after=1))
    r = invoke(["ask", "--ndjson", "hi"], cli_env)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert events[0]["type"] == "delta" and events[-1]["type"] == "error"
    assert events[-1]["exit_code"] == 4
