"""A paid request is sent again only when the server cannot have received it: connection
failures and the answers that say "try again" (408, 409, 429, 5xx). A timeout after the
request went out is exit 4 and one request, counted at the server, in ask and batch."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch_helpers import closed_port_url, results, write_prompts
from tests.conftest import invoke, run_cli
from tests.loopback import BatchScript, LoopbackServer, Reply, sse_reply


def chat_requests(server: LoopbackServer) -> int:
    return len(server.chat_bodies())


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if "retrying" not in line]


def test_read_timeout_before_the_first_byte_is_sent_once_and_may_be_billed(cli_env, server):
    server.push(Reply(events=sse_reply(["late"]), header_delay=3))
    r = invoke(["ask", "--timeout", "0.5", "hi"], cli_env)  # --retries is 2 by default
    assert r.returncode == 4, r.stderr
    assert chat_requests(server) == 1
    (line,) = error_lines(r.stderr)
    assert "within 0.5s after the request was sent" in line
    assert "may have been billed" in line and "not retried" in line
    assert "retrying" not in r.stderr


def test_read_timeout_of_a_non_streamed_request_is_sent_once(cli_env, server):
    server.push(Reply(body={"never": "read"}, header_delay=3))
    r = invoke(["ask", "--no-stream", "--timeout", "0.5", "hi"], cli_env)
    assert r.returncode == 4 and chat_requests(server) == 1
    assert "may have been billed" in error_lines(r.stderr)[0]


def test_stall_mid_stream_is_sent_once_and_exits_4(cli_env, server):
    server.push(Reply(events=sse_reply(["part ", "never"]), stall_after=1, stall_for=3))
    r = invoke(["ask", "--timeout", "0.5", "hi"], cli_env)
    assert r.returncode == 4 and r.stdout == b"part \n"
    assert chat_requests(server) == 1
    assert "incomplete" in error_lines(r.stderr)[0]


def test_connection_dropped_before_any_answer_is_not_sent_again(cli_env, server):
    def drop(request):
        raise ConnectionAbortedError("the server took the request and went away")

    server.script = drop
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 4 and chat_requests(server) == 1
    assert "retrying" not in r.stderr
    assert "may have been billed" in error_lines(r.stderr)[0]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_answers_that_say_try_again_are_retried(cli_env, server, status):
    server.push(Reply(status=status, body={"message": "again"}, headers={"Retry-After": "0"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert chat_requests(server) == 2 and r.stderr.count("retrying") == 1


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_answers_are_not_retried(cli_env, server, status):
    server.push(Reply(status=status, body={"message": "no"}, headers={"Retry-After": "0"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 1 and chat_requests(server) == 1


def test_503_retries_stop_after_retries(cli_env, server):
    busy = Reply(status=503, body={"message": "busy"}, headers={"Retry-After": "0"})
    server.push(busy, busy, busy, busy)
    r = invoke(["ask", "--retries", "2", "hi"], cli_env)
    assert r.returncode == 1 and chat_requests(server) == 3


def test_connection_refused_is_retried(cli_env):
    env = {**cli_env, "AIMLCHAT_BASE_URL": closed_port_url()}
    r = invoke(["ask", "--retries", "1", "hi"], env)
    assert r.returncode == 4
    assert r.stderr.count("retrying") == 1 and "(1/1)" in r.stderr
    assert "connection refused" in error_lines(r.stderr)[0]


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """A base URL whose listener never accepts and whose queue is full: a SYN is dropped,
    so connecting hangs until the connect timeout, as with a host that is unreachable."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue; later connects wait for a free slot
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    yield f"http://127.0.0.1:{port}/v1"
    for s in fillers:
        s.close()
    listener.close()


def test_connect_timeout_is_its_own_setting_and_is_retried(cli_env, full_backlog):
    env = {**cli_env, "AIMLCHAT_BASE_URL": full_backlog}
    r = invoke(["ask", "--connect-timeout", "0.2", "--retries", "1", "hi"], env)
    assert r.returncode == 4, r.stderr
    assert r.stderr.count("retrying") == 1
    assert "could not connect to 127.0.0.1" in error_lines(r.stderr)[0]
    assert "within 0.2s" in error_lines(r.stderr)[0]


def test_idle_timeout_bounds_the_silence_once_the_reply_has_begun(cli_env, server):
    server.push(Reply(events=sse_reply(["part ", "never"]), stall_after=1, stall_for=3))
    r = invoke(["ask", "--timeout", "30", "--idle-timeout", "0.3", "hi"], cli_env)
    assert r.returncode == 4 and r.stdout == b"part \n"
    assert "sent nothing for 0.3s" in error_lines(r.stderr)[0]


def test_first_byte_timeout_does_not_cut_a_reply_that_has_begun(cli_env, server):
    # The headers come at once; the first event only after longer than --timeout.
    server.push(Reply(events=sse_reply(["slow ", "thinker"]), first_delay=0.6))
    r = invoke(["ask", "--timeout", "0.3", "--idle-timeout", "5", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"slow thinker\n" and chat_requests(server) == 1


def test_timeouts_come_from_config(cli_env, server, home):
    (home / "config" / "aimlchat").mkdir()
    (home / "config" / "aimlchat" / "config.toml").write_text(
        "timeout = 30\nidle_timeout = 0.3\nconnect_timeout = 5\n"
    )
    server.push(Reply(events=sse_reply(["part ", "never"]), stall_after=1, stall_for=3))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 4 and "sent nothing for 0.3s" in r.stderr


def test_timeout_flags_are_in_help(cli_env):
    out = run_cli(["ask", "--help"], {**cli_env, "COLUMNS": "200"}).stdout.decode()
    for flag in ("--timeout", "--connect-timeout", "--idle-timeout", "may be billed"):
        assert flag in out


# -- batch ----------------------------------------------------------------------------------


def test_batch_with_a_slow_server_sends_each_item_once(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    server.script = BatchScript(delay=3)
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out), "-j", "3", "--timeout", "0.5"], cli_env)
    assert r.returncode == 1, r.stderr  # each item's error record; tests/test_batch_reach.py
    prompts = [b["messages"][-1]["content"] for b in server.chat_bodies()]
    assert sorted(prompts) == ["prompt 1", "prompt 2", "prompt 3"]  # once each
    assert "may have been billed" in r.stderr and "Traceback" not in r.stderr
    assert [e["error"]["exit_code"] for e in results(out)] == [4, 4, 4]


def test_batch_retries_a_503_for_the_item(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    server.push(Reply(status=503, body={"message": "busy"}, headers={"Retry-After": "0"}))
    src = write_prompts(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 0, r.stderr
    assert chat_requests(server) == 2 and results(out)[0]["error"] is None


@pytest.mark.parametrize("status", [408, 500])
def test_batch_retries_an_item_on_a_try_again_answer(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], status: int
) -> None:
    server.push(Reply(status=status, body={"message": "again"}, headers={"Retry-After": "0"}))
    src = write_prompts(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert r.returncode == 0, r.stderr
    assert chat_requests(server) == 2 and results(out)[0]["error"] is None


def test_batch_retries_a_refused_connection(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "AIMLCHAT_BASE_URL": closed_port_url()}
    src = write_prompts(tmp_path / "in.jsonl", 1)
    r = invoke(["batch", str(src), "-o", str(tmp_path / "o.jsonl"), "--retries", "1"], env)
    assert r.returncode == 4, r.stderr
    assert "1 retry" in r.stderr


def test_loopback_by_hand_logs_one_request_for_a_timed_out_ask(cli_env):
    """The by-hand check of the issue: `--timeout 1` on a slow reply, counted in the
    server's own log (`python tests/loopback.py --header-delay 3 --log`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loopback = Path(__file__).with_name("loopback.py")
    args = ["--port", str(port), "--header-delay", "3", "--log"]
    proc = subprocess.Popen(
        [sys.executable, str(loopback), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "loopback AI/ML API on" in proc.stdout.readline()
        env = {**cli_env, "AIMLCHAT_BASE_URL": f"http://127.0.0.1:{port}/v1"}
        r = invoke(["ask", "--timeout", "0.5", "hi"], env)
        assert r.returncode == 4 and "may have been billed" in r.stderr
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert [line for line in out.splitlines() if "chat request" in line] == ["chat request #1"]


def test_a_retry_after_longer_than_a_minute_is_reported_not_waited_for(cli_env, server):
    server.push(Reply(status=429, body={"message": "later"}, headers={"Retry-After": "3600"}))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 5 and chat_requests(server) == 1
    assert "the server asks to wait 3600s" in error_lines(r.stderr)[0]
    assert "--retries" not in r.stderr  # more retries cannot help: aimlchat never waits so long


def test_the_policy_sends_again_only_what_cannot_have_been_billed():
    from aimlchat.api.retry import RetryPolicy
    from aimlchat.errors import ApiError, NetworkError

    policy = RetryPolicy(2, rand=lambda: 0.5)
    refused = NetworkError("refused", unsent=True)
    timed_out = NetworkError("no answer")  # the request went out
    assert policy.delay(0, refused) == 0.5 and policy.delay(1, refused) == 1.0
    assert policy.delay(2, refused) is None  # retries spent
    assert policy.delay(0, timed_out) is None
    assert policy.delay(0, timed_out, idempotent=True) == 0.5  # a GET may go again
    for status in (408, 409, 429, 500, 503, 599):
        assert policy.delay(0, ApiError("x", status=status, retry_after=2.0)) == 2.0
    for status in (400, 401, 404, 422):
        assert policy.delay(0, ApiError("x", status=status)) is None
    assert policy.delay(0, ApiError("x", status=503, retry_after=61.0)) is None
    assert policy.shared(ApiError("x", status=429)) and not policy.shared(ApiError("x", status=500))
