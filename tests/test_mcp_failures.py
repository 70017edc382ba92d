"""How MCP failures are told: each names its real cause, and ends the command with the
exit code of its kind (1 a server fault, 4 the network, 5 a rate limit).

A stdio server's missing `cwd` is named, not taken for a missing program; what a server
printed on stdout that was no message (a banner) shows in its log and its failure; a call
to a server that had died already says so; over HTTP, a server that cannot be reached is
a network error, one that closes the connection or answers a web page says that.
Servers: tests/mcp_servers/banner_server.py (stdio, raw), the SDK's tools_server.py, and
bare sockets here for HTTP answers no real server library would produce. Waits are on
events, never a sleep.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aimlchat.errors import ExitCode
from aimlchat.tools.mcp import http as mcp_http
from aimlchat.tools.mcp.config import parse_server
from aimlchat.tools.mcp.errors import (
    McpError,
    ServerFailed,
    ServerRateLimited,
    ServerUnreachable,
    SessionExpired,
)
from aimlchat.tools.mcp.http import HttpTransport
from aimlchat.tools.mcp.jsonrpc import Message
from aimlchat.tools.mcp.provider import ServerTool, stopped_earlier
from aimlchat.tools.mcp.server import Server
from aimlchat.tools.mcp.session import Session
from aimlchat.tools.mcp.stdio import STRAY_LOGGED, STRAY_WIDTH, StdioTransport
from aimlchat.tools.protocol import RunContext, Status
from tests.conftest import invoke

SERVERS = Path(__file__).parent / "mcp_servers"
BANNER_SERVER = str(SERVERS / "banner_server.py")
BANNER = "Hello I am a server banner, not JSON"


def wait_for(what: Callable[[], bool], timeout: float = 20.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if what():
            return True
        done.wait(0.02)
    return what()


def banner(mode: str, *more: str) -> list[str]:
    return [sys.executable, BANNER_SERVER, mode, *more]


@pytest.fixture
def closing() -> Iterator[Callable[[Session], Session]]:
    """Sessions closed at the end of the test, whatever it raised."""
    opened: list[Session] = []

    def keep(session: Session) -> Session:
        opened.append(session)
        return session

    yield keep
    for session in opened:
        session.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    """Servers of `[mcp.NAME]` tables, closed at the end."""
    made: list[Server] = []

    def build(table: dict[str, Any], *, log_dir: Path | None, name: str = "srv") -> Server:
        made.append(Server(parse_server(name, table), log_dir=log_dir, environ=dict(os.environ)))
        return made[-1]

    yield build
    for server in made:
        server.close()


def ctx() -> RunContext:
    return RunContext(cwd=Path.cwd(), output_cap=64 * 1024)


# -- a stdio server's cwd ----------------------------------------------------------------


def logged_lines(log: Path) -> list[str]:
    """The log's lines but blank ones (a stray stdout line starts on a fresh line)."""
    return [line for line in log.read_text().splitlines() if line]


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_bad_cwd_is_named_not_taken_for_a_missing_program(
    tmp_path: Path, closing: Callable[[Session], Session], kind: str
) -> None:
    cwd = tmp_path / "nonexistent" / "dir"
    if kind == "a file":
        cwd = tmp_path / "file"
        cwd.write_text("")
    transport = StdioTransport("srv", banner("work"), log=tmp_path / "srv.log", cwd=cwd)
    session = closing(Session(transport, start_timeout=60))
    with pytest.raises(ServerFailed) as caught:
        session.open()
    why = "does not exist" if kind == "missing" else "is not a folder"
    assert caught.value.message == f"MCP server srv: cannot start: its cwd {cwd} {why}"
    assert caught.value.hint == "fix cwd in [mcp.srv] in config.toml"
    assert sys.executable not in caught.value.message
    assert transport.pid is None  # nothing was spawned


def test_a_missing_program_is_still_named_as_such_with_a_good_cwd(
    tmp_path: Path, closing: Callable[[Session], Session]
) -> None:
    program = tmp_path / "no-such-server"
    transport = StdioTransport("srv", [str(program)], log=None, cwd=tmp_path)
    with pytest.raises(ServerFailed) as caught:
        closing(Session(transport, start_timeout=60)).open()
    assert (
        caught.value.message == f"MCP server srv: cannot start {program}: No such file or directory"
    )


# -- what a stdio server prints on stdout that is no message -----------------------------


class Started:
    """A transport started already: lets a test wait for what the server printed before
    the session's start timeout begins, so the test does not race the reader thread."""

    def __init__(self, inner: StdioTransport) -> None:
        self.inner = inner
        self.server = inner.server

    def start(self) -> None:
        pass

    def send(self, msg: Message) -> None:
        self.inner.send(msg)

    def receive(self, timeout: float) -> Message | None:
        return self.inner.receive(timeout)

    def negotiated(self, version: str) -> None:
        self.inner.negotiated(version)

    def abandon(self, ident: int) -> None:
        self.inner.abandon(ident)

    def tail(self) -> tuple[str, ...]:
        return self.inner.tail()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("logged", [True, False], ids=["logged", "in-memory"])
def test_a_banner_then_silence_times_out_showing_the_banner(
    tmp_path: Path, closing: Callable[[Session], Session], logged: bool
) -> None:
    log = tmp_path / "srv.log" if logged else None
    inner = StdioTransport("srv", banner("hang"), log=log)
    session = closing(Session(Started(inner), start_timeout=0.5))
    inner.start()
    assert wait_for(lambda: inner.tail() == (f"stdout: {BANNER}",)), inner.tail()
    with pytest.raises(ServerFailed) as caught:
        session.open()
    assert caught.value.message == "MCP server srv did not answer initialize within 0.5 s"
    assert caught.value.tail == (f"stdout: {BANNER}",)
    if log is not None:
        assert logged_lines(log) == [f"stdout: {BANNER}"]


@pytest.mark.parametrize("logged", [True, False], ids=["logged", "in-memory"])
def test_a_server_that_prints_a_banner_and_dies_is_told_in_one_line_with_it(
    tmp_path: Path, servers: Callable[..., Server], logged: bool
) -> None:
    server = servers({"command": banner("exit")}, log_dir=tmp_path / "logs" if logged else None)
    with pytest.raises(ServerFailed) as caught:
        server.start()
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("MCP server srv exited while starting")
    # Two pipes: which of its lines reached the log first is the threads' race.
    _, _, tail = message.partition("; its stderr ends: ")
    assert sorted(tail.split(" | ")) == ["giving up", f"stdout: {BANNER}"]


def test_a_banner_does_not_stop_a_server_that_then_works_and_is_logged(
    tmp_path: Path, closing: Callable[[Session], Session]
) -> None:
    log = tmp_path / "srv.log"
    session = closing(Session(StdioTransport("srv", banner("work"), log=log), start_timeout=60))
    session.open()
    assert [tool.name for tool in session.list_tools()] == ["noop"]
    assert session.call_tool("noop", {}).text == "done"
    assert logged_lines(log) == [f"stdout: {BANNER}", "stdout: calling noop now"]


def test_a_stray_line_is_kept_as_one_line_and_cut(
    tmp_path: Path, closing: Callable[[Session], Session]
) -> None:
    log = tmp_path / "srv.log"
    long = "a\tb\rc " + "x" * 1000
    session = closing(
        Session(StdioTransport("srv", banner("work", long), log=log), start_timeout=60)
    )
    session.open()
    (line,) = logged_lines(log)
    assert line.startswith("stdout: a b c xxx") and line.endswith("…")
    assert len(line) == len("stdout: ") + STRAY_WIDTH


def test_stray_lines_past_a_limit_are_not_kept_and_that_is_said(
    tmp_path: Path, closing: Callable[[Session], Session]
) -> None:
    log = tmp_path / "srv.log"
    env = {**os.environ, "MCP_TEST_BANNER_LINES": str(STRAY_LOGGED + 50)}
    transport = StdioTransport("srv", banner("exit"), log=log, env=env)
    with pytest.raises(ServerFailed) as caught:
        closing(Session(transport, start_timeout=60)).open()
    lines = logged_lines(log)
    assert lines.count(f"stdout: {BANNER}") == STRAY_LOGGED
    note = f"stdout: more lines that are not MCP messages, not kept (past {STRAY_LOGGED})"
    assert lines.count(note) == 1
    assert note in caught.value.tail and "giving up" in lines


# -- a call to a server that had died already -------------------------------------------


def test_a_call_to_a_server_that_died_earlier_says_so_not_that_it_crashed_now(
    tmp_path: Path, servers: Callable[..., Server]
) -> None:
    pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")
    tools_server = str(SERVERS / "tools_server.py")
    server = servers({"command": [sys.executable, tools_server, "stdio"]}, log_dir=tmp_path)
    tools = {tool.label: tool for tool in server.tools()}
    status, first = tools["srv.crash"].run({}, ctx())
    assert status == Status.ERROR
    assert first.startswith("error: MCP server srv exited while running crash")
    status, later = tools["srv.echo"].run({"text": "anyone?"}, ctx())
    why = first.removeprefix("error: MCP server srv ")
    assert (status, later) == (
        Status.ERROR,
        f"error: MCP server srv had stopped earlier ({why}); this call did not run",
    )
    assert isinstance(tools["srv.echo"], ServerTool)


def test_stopped_earlier_names_the_server_once() -> None:
    said = stopped_earlier("srv", "MCP server srv: cannot reach http://h/mcp: connection refused")
    assert said == (
        "MCP server srv had stopped earlier (cannot reach http://h/mcp: connection refused); "
        "this call did not run"
    )


# -- HTTP: what a bare socket answers ---------------------------------------------------


class Canned:
    """An HTTP listener that reads each request and answers it with `answer` (bytes, or
    None to close the connection without a word), then closes the connection."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/mcp"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                if self.answer is not None:
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def canned() -> Iterator[Callable[[bytes | None], Canned]]:
    made: list[Canned] = []

    def start(answer: bytes | None) -> Canned:
        made.append(Canned(answer))
        return made[-1]

    yield start
    for listener in made:
        listener.close()


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def open_http(url: str, closing: Callable[[Session], Session]) -> McpError:
    session = closing(Session(HttpTransport("web", url), start_timeout=30))
    with pytest.raises(McpError) as caught:
        session.open()
    return caught.value


def free_port() -> int:
    with socket.socket() as probe:  # closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connection_is_unreachable_a_network_error(
    closing: Callable[[Session], Session],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    error = open_http(url, closing)
    assert isinstance(error, ServerUnreachable) and error.exit_code == ExitCode.NETWORK
    assert (
        error.message == f"MCP server web: cannot reach {url}: connection refused (is it running?)"
    )


def test_a_host_name_that_does_not_resolve_is_unreachable(
    closing: Callable[[Session], Session],
) -> None:
    error = open_http("http://no-such-host.invalid/mcp", closing)
    assert isinstance(error, ServerUnreachable) and error.exit_code == ExitCode.NETWORK
    assert error.message == (
        "MCP server web: cannot reach http://no-such-host.invalid/mcp: cannot resolve its host name"
    )


def test_no_connection_within_the_connect_timeout_is_unreachable(
    closing: Callable[[Session], Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_http, "CONNECT_TIMEOUT", 0.3)
    with socket.socket() as full:  # a backlog of none, filled: the next SYN is dropped
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        held = []
        for _ in range(4):
            pending = socket.socket()
            pending.setblocking(False)
            pending.connect_ex(("127.0.0.1", port))
            held.append(pending)
        try:
            error = open_http(f"http://127.0.0.1:{port}/mcp", closing)
        finally:
            for pending in held:
                pending.close()
    assert isinstance(error, ServerUnreachable) and error.exit_code == ExitCode.NETWORK
    assert error.message.endswith(": no connection within 0.3 s")


def test_a_connection_closed_without_an_answer_is_not_a_broken_answer(
    canned: Callable[[bytes | None], Canned], closing: Callable[[Session], Session]
) -> None:
    listener = canned(None)
    error = open_http(listener.url, closing)
    assert type(error) is ServerFailed and error.exit_code == ExitCode.API
    assert error.message == (
        f"MCP server web at {listener.url} closed the connection without answering (did it stop?)"
    )


def test_an_answer_cut_short_is_a_broken_connection(
    canned: Callable[[bytes | None], Canned], closing: Callable[[Session], Session]
) -> None:
    cut = answer("200 OK", {"Content-Type": "application/json", "Content-Length": "500"}, b'{"js')
    error = open_http(canned(cut).url, closing)
    assert type(error) is ServerFailed
    assert error.message == (
        "MCP server web: the connection broke before the answer ended (did it stop?)"
    )


def test_a_web_page_for_an_answer_says_what_came(
    canned: Callable[[bytes | None], Canned], closing: Callable[[Session], Session]
) -> None:
    page = b"<!DOCTYPE html><html><body>Welcome</body></html>"
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(page))}
    error = open_http(canned(answer("200 OK", headers, page)).url, closing)
    assert type(error) is ServerFailed
    assert error.message == "MCP server web answered with text/html, not JSON or an event stream"
    assert "url in [mcp.web]" in (error.hint or "")


def test_json_under_another_content_type_is_still_read(
    canned: Callable[[bytes | None], Canned], closing: Callable[[Session], Session]
) -> None:
    result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
    headers = {"Content-Type": "text/plain", "Content-Length": str(len(body))}
    listener = canned(answer("200 OK", headers, body))
    session = closing(Session(HttpTransport("web", listener.url), start_timeout=30))
    try:
        session.open()
    except ServerFailed as exc:  # the `initialized` notification gets the same answer
        assert "text/plain" not in exc.message, exc.message
    assert session.protocol_version == "2025-11-25"


@pytest.mark.parametrize(
    ("retry_after", "said"), [("30", "; it asks to wait 30 s"), (None, "")], ids=["30", "none"]
)
def test_a_429_is_rate_limited_with_its_retry_after(
    canned: Callable[[bytes | None], Canned],
    closing: Callable[[Session], Session],
    retry_after: str | None,
    said: str,
) -> None:
    headers = {"Content-Length": "0", **({"Retry-After": retry_after} if retry_after else {})}
    error = open_http(canned(answer("429 Too Many Requests", headers)).url, closing)
    assert isinstance(error, ServerRateLimited) and error.exit_code == ExitCode.RATE_LIMITED
    assert error.message == f"MCP server web is rate-limiting requests (HTTP 429){said}"
    assert error.retry_after == (30.0 if retry_after else None)


# -- the exit codes of `ask` --------------------------------------------------------------


def write_config(home: Path, url: str) -> None:
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(f'[mcp.web]\nurl = "{url}"\n')


def test_a_failure_retold_keeps_its_class_and_fields() -> None:
    failure = ServerUnreachable("web", "MCP server web: cannot reach it", tail=("x",))
    told = failure.retold("MCP server web: cannot reach it; more", hint="check it")
    assert type(told) is ServerUnreachable and told.exit_code == ExitCode.NETWORK
    assert (told.server, told.tail, told.hint) == ("web", ("x",), "check it")
    assert told.message == str(told) == "MCP server web: cannot reach it; more"
    assert failure.message == "MCP server web: cannot reach it" and failure.hint is None
    expired = SessionExpired("web", "ended", request=7).retold("ended; more")
    assert type(expired) is SessionExpired and expired.request == 7


def test_ask_with_an_unreachable_server_exits_4(cli_env: dict[str, str], home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    write_config(home, url)
    r = invoke(["ask", "-T", "web", "--yes", "hi"], cli_env)
    assert r.returncode == ExitCode.NETWORK, r.stderr
    (line, *_) = r.stderr.splitlines()
    assert f"MCP server web: cannot reach {url}: connection refused" in line


def test_ask_with_a_rate_limited_server_exits_5(
    cli_env: dict[str, str], home: Path, canned: Callable[[bytes | None], Canned]
) -> None:
    headers = {"Content-Length": "0", "Retry-After": "12"}
    write_config(home, canned(answer("429 Too Many Requests", headers)).url)
    r = invoke(["ask", "-T", "web", "--yes", "hi"], cli_env)
    assert r.returncode == ExitCode.RATE_LIMITED, r.stderr
    assert "MCP server web is rate-limiting requests (HTTP 429); it asks to wait 12 s" in r.stderr
