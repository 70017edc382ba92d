"""The MCP client against servers built with the official SDK, over stdio and Streamable HTTP.

The servers (tests/mcp_servers/tools_server.py) are the reference implementation's own
MCPServer (once FastMCP), so what passes here interoperates with it, not only with a
server of ours. Waits are on events (a mark file, a port answering), never on a sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")

from aimlchat.errors import ConfigError
from aimlchat.tools.mcp.content import from_result
from aimlchat.tools.mcp.errors import ServerFailed, ServerRefused
from aimlchat.tools.mcp.expand import expand_headers
from aimlchat.tools.mcp.http import HttpTransport
from aimlchat.tools.mcp.session import PROTOCOL_VERSIONS, Session
from aimlchat.tools.mcp.stdio import StdioTransport

SERVERS = Path(__file__).parent / "mcp_servers"
TOOLS_SERVER = str(SERVERS / "tools_server.py")
ALL_TOOLS = ["echo", "add", "sleep", "fail", "picture", "child", "crash"]


def wait_for(what: Callable[[], bool], timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while not what():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def group_alive(pgid: int) -> bool:
    """Does any process of group `pgid` still run? A killed orphan may stay a zombie for a
    while (or for good, where PID 1 reaps nobody): dead, so not counted."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


@pytest.fixture
def stdio(tmp_path: Path, marks: Path) -> Iterator[Callable[..., Session]]:
    """Opens sessions on stdio servers; every one is closed at the end."""
    opened: list[Session] = []

    def open_session(*argv: str, env: dict[str, str] | None = None, start: bool = True) -> Session:
        command = list(argv) or [sys.executable, TOOLS_SERVER, "stdio"]
        environ = {**os.environ, "MCP_TEST_MARKS": str(marks), **(env or {})}
        transport = StdioTransport("files", command, log=tmp_path / "files.log", env=environ)
        session = Session(transport, start_timeout=60)
        opened.append(session)
        if start:
            session.open()
        return session

    yield open_session
    for session in opened:
        session.close()


class HttpServer:
    def __init__(self, marks: Path, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.marks = marks
        self.proc = subprocess.Popen(
            [sys.executable, TOOLS_SERVER, "http", str(self.port)],
            env={**os.environ, "MCP_TEST_MARKS": str(marks), **env},
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._listening, 60), "the MCP server did not start listening"

    def _listening(self) -> bool:
        assert self.proc.poll() is None, "the MCP server exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def requests(self) -> list[list[str]]:
        log = self.marks / "requests.log"
        return [line.split() for line in log.read_text().splitlines()] if log.exists() else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def http(http_server: Callable[..., HttpServer]) -> Iterator[tuple[Session, HttpServer]]:
    srv = http_server()
    session = Session(HttpTransport("web", srv.url), start_timeout=60)
    session.open()
    yield session, srv
    session.close()


def round_trip(session: Session) -> None:
    assert session.protocol_version == PROTOCOL_VERSIONS[0]
    assert session.server_info["name"] == "test-tools"
    tools = {tool.name: tool for tool in session.list_tools()}
    assert list(tools) == ALL_TOOLS
    assert tools["add"].description == "Add two integers."
    assert tools["add"].input_schema["required"] == ["a", "b"]
    result = session.call_tool("add", {"a": 2, "b": 40})
    assert (result.text, result.is_error) == ("42", False)
    assert session.call_tool("echo", {"text": "héllo\nworld"}).text == "héllo\nworld"


# The round trip


def test_stdio_server_initializes_lists_and_calls(stdio: Callable[..., Session]) -> None:
    round_trip(stdio())


def test_http_server_initializes_lists_and_calls(http: tuple[Session, HttpServer]) -> None:
    round_trip(http[0])


def test_tools_list_follows_next_cursor_page_by_page(stdio: Callable[..., Session]) -> None:
    session = stdio(env={"MCP_TEST_PAGE_SIZE": "2"})  # 7 tools: 4 pages
    assert [tool.name for tool in session.list_tools()] == ALL_TOOLS


# Results for the model


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_an_is_error_result_reaches_the_model_as_an_error(
    transport: str, stdio: Callable[..., Session], http_server: Callable[..., HttpServer]
) -> None:
    if transport == "stdio":
        session = stdio()
    else:
        session = Session(HttpTransport("web", http_server().url), start_timeout=60)
        session.open()
    try:
        result = session.call_tool("fail", {"message": "disk is full"})
    finally:
        session.close()
    assert result.is_error and "disk is full" in result.text


def test_a_call_the_server_refuses_is_an_error_result(stdio: Callable[..., Session]) -> None:
    result = stdio().call_tool("no_such_tool", {})
    assert result.is_error and "no_such_tool" in result.text


def test_an_image_is_summarised_in_one_line(stdio: Callable[..., Session]) -> None:
    result = stdio().call_tool("picture", {})
    assert result.text == "[image: image/png, 70 bytes]" and not result.is_error


def test_other_content_types_are_summarised_one_line_each_but_text_resources_passed_on() -> None:
    result = from_result(
        {
            "content": [
                {"type": "text", "text": "two things:"},
                {"type": "audio", "mimeType": "audio/wav", "data": "AAAA"},
                {
                    "type": "resource",
                    "resource": {"uri": "file:///a.txt", "mimeType": "text/plain", "text": "abc"},
                },
                {"type": "resource", "resource": {"uri": "db://x", "blob": "AAAAAA=="}},
                {
                    "type": "resource_link",
                    "uri": "file:///b.md",
                    "name": "b",
                    "mimeType": "text/md",
                },
                {"type": "hologram"},
            ],
            "structuredContent": {"same": "data"},
        }
    )
    assert result.text.splitlines() == [
        "two things:",
        "[audio: audio/wav, 3 bytes]",
        "[resource: file:///a.txt (text/plain)]",
        "abc",
        "[resource: db://x, 4 bytes]",
        "[resource link: b <file:///b.md> (text/md)]",
        "[hologram content]",
    ]


def test_structured_content_alone_is_passed_as_json() -> None:
    result = from_result({"content": [], "structuredContent": {"rows": [1, 2]}, "isError": True})
    assert (result.text, result.is_error) == ('{"rows":[1,2]}', True)


# Timeouts and cancellation


def test_a_stdio_call_past_its_timeout_is_cancelled_and_reported(
    stdio: Callable[..., Session], marks: Path
) -> None:
    session = stdio()
    result = session.call_tool("sleep", {"seconds": 120}, timeout=1)
    assert result.is_error and result.timed_out
    assert "took longer than 1 s and was cancelled" in result.text
    assert wait_for((marks / "cancelled").exists), "the server never saw the cancellation"
    assert session.call_tool("echo", {"text": "still here"}).text == "still here"


def test_an_http_call_past_its_timeout_is_cancelled_and_reported(
    http: tuple[Session, HttpServer], marks: Path
) -> None:
    session, _ = http
    result = session.call_tool("sleep", {"seconds": 120}, timeout=1)
    assert result.is_error and result.timed_out
    assert wait_for((marks / "cancelled").exists), "the server never saw the cancellation"
    assert session.call_tool("echo", {"text": "still here"}).text == "still here"


def test_ctrl_c_during_a_call_cancels_it_on_the_server(
    stdio: Callable[..., Session], marks: Path
) -> None:
    session = stdio()

    def interrupt_once_started() -> None:
        if wait_for((marks / "started").exists):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        session.call_tool("sleep", {"seconds": 120}, timeout=60)
    assert wait_for((marks / "cancelled").exists), "the server never saw the cancellation"


# Servers that fail


def test_a_server_that_dies_at_start_is_named_with_its_stderr(
    stdio: Callable[..., Session],
) -> None:
    session = stdio(env={"MCP_TEST_CRASH_AT_START": "1"}, start=False)
    with pytest.raises(ServerFailed) as caught:
        session.open()
    assert "MCP server files exited while starting" in caught.value.message
    assert "fatal: no such database 'nowhere.db'" in caught.value.message
    assert caught.value.tail[-1] == "fatal: no such database 'nowhere.db'"


def test_a_command_that_cannot_start_is_named(
    stdio: Callable[..., Session], tmp_path: Path
) -> None:
    session = stdio(str(tmp_path / "no-such-server"), start=False)
    with pytest.raises(ServerFailed, match=r"MCP server files: cannot start .*no-such-server"):
        session.open()


def test_a_server_that_dies_mid_call_is_named_with_its_stderr(
    stdio: Callable[..., Session],
) -> None:
    session = stdio()
    with pytest.raises(ServerFailed) as caught:
        session.call_tool("crash", {})
    assert "MCP server files exited while running crash" in caught.value.message
    assert "crash: the server is going down" in caught.value.message
    with pytest.raises(ServerFailed):  # and stays dead, without a wait
        session.call_tool("echo", {"text": "anyone?"})


def test_an_http_server_that_dies_mid_call_is_named(http: tuple[Session, HttpServer]) -> None:
    session, _ = http
    with pytest.raises(ServerFailed, match="MCP server web"):
        session.call_tool("crash", {})


# Protocol versions


def test_an_older_version_the_server_answers_is_accepted(stdio: Callable[..., Session]) -> None:
    session = stdio(sys.executable, str(SERVERS / "fixed_version.py"), "2025-03-26")
    assert session.protocol_version == "2025-03-26"
    assert [tool.name for tool in session.list_tools()] == ["noop"]
    assert session.transport.tail() == (f"offered {PROTOCOL_VERSIONS[0]}",)  # type: ignore[attr-defined]


def test_a_version_we_do_not_speak_is_a_clear_error(stdio: Callable[..., Session]) -> None:
    session = stdio(sys.executable, str(SERVERS / "fixed_version.py"), "1999-01-01", start=False)
    with pytest.raises(ServerFailed, match="speaks protocol version 1999-01-01, which aimlchat"):
        session.open()


# Lifecycle


def test_close_leaves_no_process_of_the_server_group(stdio: Callable[..., Session]) -> None:
    session = stdio()
    pgid = session.transport.pid  # type: ignore[attr-defined]
    child = session.call_tool("child", {}).text  # a grandchild in the same group
    assert pgid is not None and group_alive(pgid) and child.isdigit()
    session.close()
    # The KILL is sent before close returns; the kernel finishes it a moment later.
    assert wait_for(lambda: not group_alive(pgid), 5)
    session.close()  # twice is fine


def test_close_stops_a_server_busy_in_a_call(stdio: Callable[..., Session], marks: Path) -> None:
    session = stdio()
    pgid = session.transport.pid  # type: ignore[attr-defined]
    assert session.call_tool("sleep", {"seconds": 120}, timeout=0.5).timed_out
    session.close()
    assert wait_for(lambda: not group_alive(pgid), 5)


def test_http_keeps_the_session_id_sends_the_version_and_deletes_at_close(
    http: tuple[Session, HttpServer],
) -> None:
    session, srv = http
    session.call_tool("echo", {"text": "x"})
    session.close()
    seen = srv.requests()
    sid = session.transport.session_id  # type: ignore[attr-defined]
    assert sid and seen[0] == ["POST", "-", "-"]  # initialize: neither yet
    assert all(line == ["POST", sid, PROTOCOL_VERSIONS[0]] for line in seen[1:-1])
    assert seen[-1] == ["DELETE", sid, PROTOCOL_VERSIONS[0]]


def test_http_401_names_the_server(http_server: Callable[..., HttpServer]) -> None:
    srv = http_server(MCP_TEST_TOKEN="s3cret")
    session = Session(HttpTransport("aiml", srv.url), start_timeout=60)
    with pytest.raises(ServerRefused) as caught:
        session.open()
    session.close()
    assert caught.value.message == "MCP server aiml refused the credentials (HTTP 401)"
    assert "[mcp.aiml]" in (caught.value.hint or "")
    assert caught.value.exit_code == 3


def test_http_headers_from_the_environment_authorise(
    http_server: Callable[..., HttpServer],
) -> None:
    srv = http_server(MCP_TEST_TOKEN="s3cret")
    headers = expand_headers(
        {"Authorization": "Bearer ${MY_KEY}"}, {"MY_KEY": "s3cret"}, server="aiml"
    )
    session = Session(HttpTransport("aiml", srv.url, headers=headers), start_timeout=60)
    try:
        session.open()
        assert session.call_tool("add", {"a": 1, "b": 1}).text == "2"
    finally:
        session.close()


def test_an_unset_header_variable_is_a_config_error_naming_where() -> None:
    with pytest.raises(ConfigError) as caught:
        expand_headers({"Authorization": "Bearer ${NOPE_KEY}"}, {}, server="aiml")
    assert caught.value.message == (
        "[mcp.aiml] headers.Authorization uses ${NOPE_KEY}, which is not set in the environment"
    )


def test_an_unreachable_http_server_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    session = Session(HttpTransport("web", f"http://127.0.0.1:{port}/mcp"), start_timeout=30)
    with pytest.raises(ServerFailed, match=r"MCP server web: cannot reach http://127\.0\.0\.1"):
        session.open()
    session.close()
