"""The Streamable HTTP transport against a server that misbehaves on demand
(tests/mcp_servers/raw_http.py): redirects, answers' streams closed early and resumed,
sessions the server forgets, a server that never answers on the way out.
Waits are on events, never on a sleep."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from aimlchat.tools.mcp.errors import ServerFailed
from aimlchat.tools.mcp.http import RESUMES, HttpTransport
from aimlchat.tools.mcp.session import Session
from tests.mcp_servers.raw_http import RawMcpServer


@pytest.fixture
def raw() -> Iterator[Callable[[], RawMcpServer]]:
    started: list[RawMcpServer] = []

    def start() -> RawMcpServer:
        started.append(RawMcpServer())
        return started[-1]

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., Session]]:
    """Opens sessions on a URL; every one is closed at the end."""
    opened: list[Session] = []

    def open_session(url: str, headers: dict[str, str] | None = None) -> Session:
        session = Session(HttpTransport("web", url, headers=headers), start_timeout=30)
        opened.append(session)
        session.open()
        return session

    yield open_session
    for session in opened:
        session.close()


# Redirects


def test_a_redirect_is_an_error_and_sends_the_headers_nowhere(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    target, redirector = raw(), raw()
    redirector.redirect_to = target.url + "?key=in-the-query"
    secret = {"X-Api-Key": "sk-SECRET", "Authorization": "Bearer sk-SECRET"}
    with pytest.raises(ServerFailed) as caught:
        connect(redirector.url, secret)
    assert target.seen == []
    assert caught.value.message.startswith(
        f"MCP server web at {redirector.url} redirects to {target.url} (HTTP 307)"
    )
    assert "in-the-query" not in caught.value.message
    assert "config.toml" in (caught.value.hint or "")


# An answer's stream closed before the answer


def test_a_stream_closed_after_an_event_id_is_resumed_with_a_get(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call = "prime"
    session = connect(srv.url)
    result = session.call_tool("t", {}, timeout=20)
    assert (result.text, result.is_error) == ("ok", False)
    gets = [seen for seen in srv.seen if seen.method == "GET"]
    assert len(gets) == 1
    sid = session.transport.session_id  # type: ignore[attr-defined]
    assert gets[0].headers["Last-Event-ID"] == "e1"
    assert gets[0].headers["Accept"] == "text/event-stream"
    assert gets[0].headers["Mcp-Session-Id"] == sid
    assert gets[0].headers["MCP-Protocol-Version"] == "2025-11-25"


def test_a_stream_closed_without_an_event_id_fails_at_once(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call = "no-id"
    session = connect(srv.url)
    with pytest.raises(ServerFailed) as caught:
        session.call_tool("t", {}, timeout=600)
    assert caught.value.message == "MCP server web closed the answer's stream before the answer"
    assert "GET" not in srv.methods()


@pytest.mark.parametrize("status", [405, 404])
def test_a_stream_the_server_will_not_resume_fails_at_once(
    status: int, raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call, srv.get_status = "prime", status
    session = connect(srv.url)
    with pytest.raises(ServerFailed) as caught:
        session.call_tool("t", {}, timeout=600)
    assert caught.value.message == (
        "MCP server web closed the answer's stream before the answer, "
        f"and did not resume it (HTTP {status})"
    )


def test_resuming_stops_after_streams_that_bring_nothing_new(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call = "prime-forever"
    session = connect(srv.url)
    with pytest.raises(ServerFailed, match=f"before the answer {RESUMES} times in a row"):
        session.call_tool("t", {}, timeout=600)
    assert srv.methods().count("GET") == RESUMES


# The way out


@pytest.fixture
def timeouts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """(HTTP method, JSON-RPC method or "", timeout) of every request the client makes."""
    seen: list[tuple[str, str, Any]] = []
    request = requests.Session.request

    def record(self: requests.Session, method: str, url: str, **kw: Any) -> Any:
        data = kw.get("data") or b""
        what = data.split(b'"method":"')[1].split(b'"')[0].decode() if b'"method"' in data else ""
        seen.append((method, what, kw.get("timeout")))
        return request(self, method, url, **kw)

    monkeypatch.setattr(requests.Session, "request", record)
    return seen


def test_a_hung_server_cannot_hold_the_way_out(
    raw: Callable[[], RawMcpServer], timeouts: list[tuple[str, str, Any]]
) -> None:
    srv = raw()
    srv.call, srv.hang_notifications, srv.hang_delete = "hang", True, True
    session = Session(HttpTransport("web", srv.url), start_timeout=30)
    session.open()
    done = threading.Event()
    results: list[Any] = []

    def leave() -> None:
        results.append(session.call_tool("t", {}, timeout=0.5))
        session.close()
        done.set()

    threading.Thread(target=leave, daemon=True).start()
    # Generous for a busy machine; the server holds both for as long as the test runs.
    assert done.wait(20), "cancelling and closing waited on a server that never answers"
    assert results[0].timed_out
    assert [m for m in srv.methods() if m in ("notifications/cancelled", "DELETE")] == [
        "notifications/cancelled",
        "DELETE",
    ]
    quick = [
        t for method, what, t in timeouts if what == "notifications/cancelled" or method == "DELETE"
    ]
    assert len(quick) == 2
    assert all(connect <= 2 and read <= 2 for connect, read in quick)


# A session the server forgets


def test_an_expired_session_is_begun_anew_and_the_call_sent_again(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    session = connect(srv.url)
    first = session.transport.session_id  # type: ignore[attr-defined]
    srv.forget()
    result = session.call_tool("t", {}, timeout=20)
    assert (result.text, result.is_error) == ("ok", False)
    second = session.transport.session_id  # type: ignore[attr-defined]
    assert second and second != first
    assert srv.methods()[-4:] == [
        "tools/call",  # refused: 404
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]
    refused, again = srv.seen[-4], srv.seen[-3]
    assert refused.headers["Mcp-Session-Id"] == first
    assert "Mcp-Session-Id" not in again.headers
    assert srv.seen[-1].headers["Mcp-Session-Id"] == second
    assert session.call_tool("t", {}).text == "ok"


def test_a_session_ended_again_at_once_is_a_clear_error(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call = "expire"
    session = connect(srv.url)
    with pytest.raises(ServerFailed) as caught:
        session.call_tool("t", {}, timeout=20)
    assert caught.value.message == (
        "MCP server web ended the session again right after a new one began"
    )
    assert srv.methods().count("initialize") == 2
    assert srv.methods().count("tools/call") == 2


def test_the_sdk_server_closing_a_calls_stream_is_resumed(
    connect: Callable[..., Session],
) -> None:
    """The reference implementation's own polling (close_sse_stream with an event store)."""
    pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(__file__).parent / "mcp_servers" / "resumable_server.py"
    proc = subprocess.Popen([sys.executable, str(script), str(port)], stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: listening(proc, port), 60), "the MCP server did not start"
        session = connect(f"http://127.0.0.1:{port}/mcp")
        result = session.call_tool("poll", {}, timeout=30)
        assert (result.text, result.is_error) == ("done after the stream closed", False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_for(what: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not what():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    assert proc.poll() is None, "the MCP server exited"
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# A rate limit


def test_a_429_to_one_call_fails_that_call_not_the_server(
    raw: Callable[[], RawMcpServer], tmp_path: Path
) -> None:
    from aimlchat.tools.mcp.config import parse_server
    from aimlchat.tools.mcp.server import Server
    from aimlchat.tools.protocol import RunContext, Status

    srv = raw()
    srv.call = "busy-once"
    server = Server(parse_server("web", {"url": srv.url}), log_dir=tmp_path, environ={})
    try:
        (tool,) = server.tools()
        status, text = tool.run({}, RunContext(tmp_path))
        assert status is Status.ERROR and "rate-limiting" in text, text
        assert server.state == "running"  # busy is not broken
        assert tool.run({}, RunContext(tmp_path)) == (Status.OK, "ok")
    finally:
        server.close()


def test_a_stream_cut_inside_an_event_is_resumed_not_read_half(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    srv.call = "cut"
    session = connect(srv.url)
    result = session.call_tool("t", {}, timeout=30)
    assert (result.text, result.is_error) == ("ok", False)  # not "bad answer: Unterminated…"
    assert srv.methods()[-1] == "GET"  # resumed from the last whole event's id


def test_a_new_session_refused_with_429_fails_the_server_not_just_the_call(
    raw: Callable[[], RawMcpServer], connect: Callable[..., Session]
) -> None:
    srv = raw()
    session = connect(srv.url)
    srv.forget()
    srv.busy_initialize = True
    with pytest.raises(ServerFailed) as err:  # not ServerRateLimited: no session is left
        session.call_tool("t", {}, timeout=20)
    assert "ended the session and could not begin a new one" in err.value.message
