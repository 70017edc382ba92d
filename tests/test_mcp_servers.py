"""MCP servers from config.toml as a run uses them: started on first use, their tools as
`Tool`s, stopped at exit. Against the official SDK's servers (tests/mcp_servers/), over
stdio and Streamable HTTP; waits are on events, never on a sleep."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")

from aimlchat import exit_hooks
from aimlchat.errors import ConfigError
from aimlchat.tools.mcp.config import ServerSpec, parse_server
from aimlchat.tools.mcp.errors import ServerFailed, ServerRefused
from aimlchat.tools.mcp.provider import NOTHING, ServerTool, object_schema
from aimlchat.tools.mcp.server import Server, Servers
from aimlchat.tools.protocol import RunContext, Status, Tool
from tests.conftest import invoke
from tests.test_mcp_client import ALL_TOOLS, TOOLS_SERVER, HttpServer, group_alive, wait_for

STDIO = [sys.executable, TOOLS_SERVER, "stdio"]


@pytest.fixture(autouse=True)
def no_hooks_left() -> Iterator[None]:
    """Whatever a test starts is stopped at its end, as at a process's exit."""
    yield
    exit_hooks.run()


@pytest.fixture
def environ(marks: Path) -> dict[str, str]:
    return {**os.environ, "MCP_TEST_MARKS": str(marks), "AIML_API_KEY": "sk-aiml-secret"}


@pytest.fixture
def make(tmp_path: Path, environ: dict[str, str]) -> Callable[..., Server]:
    """A Server of a `[mcp.NAME]` table (default: the SDK's stdio server)."""

    def build(name: str = "files", **table: Any) -> Server:
        table.setdefault("url" if "url" in table else "command", STDIO)
        return Server(parse_server(name, table), log_dir=tmp_path / "logs", environ=environ)

    return build


def ctx(cap: int = 256 * 1024) -> RunContext:
    return RunContext(cwd=Path.cwd(), output_cap=cap)


def by_label(tools: list[Tool]) -> dict[str, Tool]:
    return {tool.label: tool for tool in tools}


# The round trip


def test_a_stdio_server_starts_on_first_use_and_its_tools_run(make: Callable[..., Server]) -> None:
    server = make()
    assert server.state == "not started" and server.pid is None
    tools = by_label(server.tools())
    assert server.state == "running" and server.pid is not None
    assert list(tools) == [f"files.{name}" for name in ALL_TOOLS]
    add = tools["files.add"]
    assert isinstance(add, ServerTool)
    tool: Tool = add  # the protocol the tool loop knows
    assert (tool.name, tool.kind, tool.description) == ("files__add", "mcp", "Add two integers.")
    assert tool.parameters["required"] == ["a", "b"] and tool.runs() == "MCP server files"
    assert tool.run({"a": 2, "b": 40}, ctx()) == (Status.OK, "42")
    assert server.tools()[0] is tools["files.echo"]  # listed once


def test_an_http_server_round_trip_and_delete_at_close(
    make: Callable[..., Server], http_server: Callable[..., HttpServer]
) -> None:
    srv = http_server()
    server = make("web", url=srv.url)
    echo = by_label(server.tools())["web.echo"]
    assert echo.name == "web__echo"
    assert echo.run({"text": "héllo"}, ctx()) == (Status.OK, "héllo")
    server.close()
    assert server.state == "stopped"
    assert srv.requests()[-1][0] == "DELETE"
    server.close()  # twice is fine


def test_http_headers_are_expanded_from_the_environment_at_start(
    tmp_path: Path, http_server: Callable[..., HttpServer], environ: dict[str, str]
) -> None:
    srv = http_server(MCP_TEST_TOKEN="s3cret")
    spec = parse_server("aiml", {"url": srv.url, "headers": {"Authorization": "Bearer ${TOK}"}})
    server = Server(spec, log_dir=tmp_path, environ={**environ, "TOK": "s3cret"})
    assert by_label(server.tools())["aiml.add"].run({"a": 1, "b": 1}, ctx()) == (Status.OK, "2")
    refused = Server(spec, log_dir=tmp_path, environ={**environ, "TOK": "wrong"})
    with pytest.raises(ServerRefused, match="MCP server aiml refused the credentials"):
        refused.tools()
    assert refused.state == "failed" and refused.error is not None


# Results for the model


def test_results_map_to_statuses(make: Callable[..., Server]) -> None:
    tools = by_label(make(timeout=10).tools())  # time enough for the quick calls on busy CI
    status, text = tools["files.fail"].run({"message": "disk is full"}, ctx())
    assert status == Status.FAILED and text.startswith("error: ") and "disk is full" in text
    status, text = tools["files.sleep"].run({"seconds": 120}, ctx())
    assert status == Status.TIMED_OUT and "took longer than 10 s and was cancelled" in text
    assert tools["files.echo"].run({"text": ""}, ctx()) == (Status.OK, NOTHING)
    assert tools["files.picture"].run({}, ctx()) == (Status.OK, "[image: image/png, 70 bytes]")


def test_output_past_the_cap_is_cut_on_a_character_boundary(make: Callable[..., Server]) -> None:
    echo = by_label(make().tools())["files.echo"]
    status, text = echo.run({"text": "é" * 5000}, ctx(cap=4097))
    body, note = text.rsplit("\n", 1)
    assert status == Status.OK and body == "é" * 2048
    assert note == "[output cut at 4 KB of 10 KB]"


def test_a_server_dying_mid_call_is_an_error_for_the_model_naming_it(
    make: Callable[..., Server],
) -> None:
    server = make()
    tools = by_label(server.tools())
    pgid = server.pid
    status, text = tools["files.crash"].run({}, ctx())
    assert status == Status.ERROR and "\n" not in text
    assert text.startswith("error: MCP server files exited while running crash")
    assert text.endswith("its stderr ends: crash: the server is going down")
    assert server.state == "failed" and server.error == text.removeprefix("error: ")
    assert pgid is not None and wait_for(lambda: not group_alive(pgid), 5)
    status, again = tools["files.echo"].run({"text": "anyone?"}, ctx())
    earlier = text.removeprefix("error: MCP server files ")
    assert (status, again) == (  # no restart within the run, and not told as this call's
        Status.ERROR,
        f"error: MCP server files had stopped earlier ({earlier}); this call did not run",
    )


def test_ctrl_c_during_a_call_propagates_and_the_server_stays(
    make: Callable[..., Server], marks: Path
) -> None:
    server = make()
    tools = by_label(server.tools())

    def interrupt_once_started() -> None:
        if wait_for((marks / "started").exists):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        tools["files.sleep"].run({"seconds": 120}, ctx())
    assert wait_for((marks / "cancelled").exists), "the server never saw the cancellation"
    assert server.state == "running"
    assert tools["files.echo"].run({"text": "still"}, ctx()) == (Status.OK, "still")


def test_a_schema_without_properties_gets_empty_ones() -> None:
    assert object_schema({"type": "object"}) == {"type": "object", "properties": {}}
    assert object_schema({}) == {"type": "object", "properties": {}}
    kept = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert object_schema(kept) == kept


# Consent policy fields


def test_deny_hides_a_tool_and_allow_or_trusted_skip_the_question(
    make: Callable[..., Server],
) -> None:
    tools = by_label(make(deny=["crash", "child"], allow=["echo"]).tools())
    assert "files.crash" not in tools and "files.child" not in tools
    assert not tools["files.echo"].asks and tools["files.add"].asks
    assert tools["files.add"].allow_hint() == (
        'add "add" to allow in [mcp.files], or set trusted = true'
    )
    trusted = by_label(make("trusted", trusted=True).tools())
    assert not any(tool.asks for tool in trusted.values())


# Servers that fail to start


def test_a_server_that_fails_to_start_is_failed_with_its_stderr_in_one_line(
    make: Callable[..., Server],
) -> None:
    server = make(env={"MCP_TEST_CRASH_AT_START": "1"})
    with pytest.raises(ServerFailed) as caught:
        server.tools()
    assert server.state == "failed" and server.error == caught.value.message
    assert "\n" not in server.error
    assert server.error.startswith("MCP server files exited while starting")
    assert server.error.endswith("its stderr ends: fatal: no such database 'nowhere.db'")
    assert caught.value.hint == f"its log: {server.log}"
    size = server.log.stat().st_size  # type: ignore[union-attr]
    with pytest.raises(ServerFailed):
        server.start()  # the failure again, without starting it a second time
    assert server.log.stat().st_size == size  # type: ignore[union-attr]


def test_a_missing_program_is_named(make: Callable[..., Server], tmp_path: Path) -> None:
    server = make(command=[str(tmp_path / "no-such-server")])
    with pytest.raises(ServerFailed, match=r"MCP server files: cannot start .*no-such-server"):
        server.start()
    assert server.state == "failed"


def test_an_unset_env_variable_fails_the_server_only_when_it_starts(
    make: Callable[..., Server],
) -> None:
    server = make(env={"ROOT": "${NO_SUCH_VAR_X}"})  # parsing it is fine
    with pytest.raises(ConfigError) as caught:
        server.start()
    assert caught.value.message == (
        "[mcp.files] env.ROOT uses ${NO_SUCH_VAR_X}, which is not set in the environment"
    )
    assert server.state == "failed" and server.pid is None


# The environment, the log


def _printing_env(*names: str) -> list[str]:
    """The stdio server, started by a shell that first prints `names` to stderr."""
    said = " ".join(f"{n}=${{{n}:-unset}}" for n in names)
    return ["sh", "-c", f'echo "{said}" >&2; exec "$0" "$@"', *STDIO]


def test_env_is_expanded_and_the_api_key_is_not_inherited(make: Callable[..., Server]) -> None:
    server = make(command=_printing_env("AIML_API_KEY", "ROOT"), env={"ROOT": "${HOME}/n"})
    server.start()
    log = server.log.read_text()  # type: ignore[union-attr]
    assert f"AIML_API_KEY=unset ROOT={os.environ['HOME']}/n" in log
    assert "sk-aiml-secret" not in log


def test_a_variable_in_the_command_is_filled_at_start(make: Callable[..., Server]) -> None:
    command = ["sh", "-c", 'echo "token=$0" >&2; exec "$@"', "${ARG_TOKEN}", *STDIO]
    server = make(command=command)
    server.environ = {**server.environ, "ARG_TOKEN": "tok-123"}
    server.start()
    assert "token=tok-123" in server.log.read_text()  # type: ignore[union-attr]


def test_a_variable_in_cwd_is_filled_at_start(make: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    command = ["sh", "-c", 'echo "cwd=$PWD" >&2; exec "$0" "$@"', *STDIO]
    server = make(command=command, cwd="${PROJECT_DIR}/proj")
    server.environ = {**server.environ, "PROJECT_DIR": str(tmp_path)}
    server.start()
    assert f"cwd={tmp_path}/proj" in server.log.read_text()  # type: ignore[union-attr]


def test_only_secrets_filled_in_are_starred_never_paths_or_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `${VAR}` value is starred wherever echoed when it is a secret: named so (as
    `config show` masks), going where credentials go (an Authorization header, a secret-
    named env key), or a URL's password. A path or a flag must reach the model as it is
    (`{"ok": true}`, not `{"ok": ***}`)."""
    from aimlchat.errors import redact
    from aimlchat.tools.mcp.expand import expand, expand_headers

    monkeypatch.setattr(redact, "_secrets", set())  # this test's secrets only
    environ = {
        "PROJECT": "/work/project",
        "READ_ONLY": "true",
        "SSH_KEY_PATH": "/home/u/.ssh/id_ed25519",
        "TOKEN_ENDPOINT": "https://auth.example.com/oauth/token",
        "WORKSPACE": "engineering",
        "GITHUB_TOKEN": "ghp_0123456789",
        "GH_PAT": "pat-abcdefgh",
        "PGPASSWORD": "hunter2",
        "DATABASE_URL": "postgres://app:s3cretPassw0rd@db/app",
        "BEARER": "tk-bearer-1",
        "PLAIN": "handed-over",
    }
    for name in ("PROJECT", "READ_ONLY", "SSH_KEY_PATH", "TOKEN_ENDPOINT", "GITHUB_TOKEN"):
        expand(f"${{{name}}}", environ, where="[mcp.s] env.X")
    for name in ("GH_PAT", "PGPASSWORD", "DATABASE_URL"):
        expand(f"${{{name}}}", environ, where="[mcp.s] env.X")
    expand("${PLAIN}", environ, where="[mcp.s] env.API_KEY", secret=True)  # env = {API_KEY=…}
    headers = {"X-Workspace": "${WORKSPACE}", "Authorization": "Bearer ${BEARER}"}
    expand_headers(headers, environ, server="s")
    text = (
        '{"ok": true, "path": "/work/project/a.py", "key": "/home/u/.ssh/id_ed25519", '
        '"auth": "https://auth.example.com/oauth/token", "team": "engineering"}'
    )
    assert redact(text) == text
    said = "ghp_0123456789 pat-abcdefgh hunter2 app:s3cretPassw0rd@db tk-bearer-1 handed-over"
    assert redact(said) == "*** *** *** app:***@db *** ***"


def test_a_log_folder_that_cannot_be_written_keeps_the_tail_in_memory(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    blocked = tmp_path / "logs"
    blocked.write_text("a file where the folder should be")
    spec = parse_server("files", {"command": _printing_env("X")})
    server = Server(spec, log_dir=blocked, environ={**environ, "X": "said-on-stderr"})
    echo = by_label(server.tools())["files.echo"]  # it starts all the same
    assert echo.run({"text": "hi"}, ctx()) == (Status.OK, "hi")
    assert server.session is not None
    assert "X=said-on-stderr" in " ".join(server.session.transport.tail())


def test_the_api_key_goes_to_a_server_only_when_config_hands_it_over(
    make: Callable[..., Server],
) -> None:
    server = make(command=_printing_env("AIML_API_KEY"), env={"AIML_API_KEY": "${AIML_API_KEY}"})
    server.start()
    assert "AIML_API_KEY=sk-aiml-secret" in server.log.read_text()  # type: ignore[union-attr]


def test_the_log_is_private_and_says_which_run_starts(
    make: Callable[..., Server], tmp_path: Path
) -> None:
    make().start()
    log = tmp_path / "logs" / "mcp-files.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert f"aimlchat (pid {os.getpid()}) starts files" in log.read_text()


# Lifecycle


def test_close_leaves_no_process_in_the_server_group(make: Callable[..., Server]) -> None:
    server = make()
    child = by_label(server.tools())["files.child"].run({}, ctx())
    pgid = server.pid
    assert child[0] == Status.OK and pgid is not None and group_alive(pgid)
    server.close()
    assert server.state == "stopped" and wait_for(lambda: not group_alive(pgid), 5)


def test_a_started_server_is_stopped_by_the_exit_hooks(make: Callable[..., Server]) -> None:
    server = make()
    server.start()
    pgid = server.pid
    assert pgid is not None
    exit_hooks.run()
    assert server.state == "stopped" and wait_for(lambda: not group_alive(pgid), 5)


def test_servers_registry_starts_only_what_is_used_and_closes_all(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    specs = {
        "a": ServerSpec(name="a", command=tuple(STDIO)),
        "a_": ServerSpec(name="a_", command=tuple(STDIO)),
        "idle": ServerSpec(name="idle", command=tuple(STDIO)),
    }
    servers = Servers(specs, log_dir=tmp_path, environ=environ, reserved={"a__echo"})
    assert "a" in servers and servers.names() == ["a", "a_", "idle"]
    first = {t.label: t.name for t in servers.get("a").tools()}
    second = {t.label: t.name for t in servers.get("a_").tools()}
    assert first["a.echo"] != "a__echo"  # reserved by another tool
    names = [*first.values(), *second.values()]
    assert len(set(names)) == len(names)
    assert [s.name for s in servers.started()] == ["a", "a_"]
    servers.close_all()
    assert [s.state for s in servers.all()] == ["stopped", "stopped", "not started"]


# exit_hooks


def test_exit_hooks_run_once_last_first_despite_a_failing_one() -> None:
    ran: list[str] = []
    exit_hooks.on_exit(lambda: ran.append("first"))
    exit_hooks.on_exit(lambda: 1 / 0)
    exit_hooks.on_exit(lambda: ran.append("last"))
    exit_hooks.run()
    exit_hooks.run()
    assert ran == ["last", "first"]


def test_main_runs_the_exit_hooks(cli_env: dict[str, str]) -> None:
    ran: list[str] = []
    exit_hooks.on_exit(lambda: ran.append("ran"))
    result = invoke(["--version"], cli_env)
    assert result.returncode == 0 and ran == ["ran"]


def test_main_runs_the_exit_hooks_after_an_error(cli_env: dict[str, str]) -> None:
    ran: list[str] = []
    exit_hooks.on_exit(lambda: ran.append("ran"))
    result = invoke(["ask", "--temperature", "nine", "hi"], cli_env)
    assert result.returncode == 2 and ran == ["ran"]


def test_a_sigterm_during_the_exit_hooks_does_not_cut_them_short(
    cli_env: dict[str, str],
) -> None:
    ran: list[str] = []

    def stopping() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as a second SIGTERM while servers stop
        ran.append("stopped")

    exit_hooks.on_exit(lambda: ran.append("first"))
    exit_hooks.on_exit(stopping)
    result = invoke(["--version"], cli_env)
    assert ran == ["stopped", "first"] and result.returncode == 0


def test_a_key_in_an_http_servers_query_string_never_reaches_an_error(
    make: Callable[..., Server],
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = make(url=f"http://127.0.0.1:{port}/mcp?key=sk-query-secret#frag-secret")
    with pytest.raises(ServerFailed) as err:
        server.start()
    said = f"{err.value.message} {err.value.hint or ''} {server.error or ''}"
    assert f"cannot reach http://127.0.0.1:{port}/mcp" in said
    assert "secret" not in said


def test_a_lone_surrogate_is_sent_as_an_escape_not_an_encoding_error() -> None:
    from aimlchat.tools.mcp import jsonrpc

    # Before: UnicodeEncodeError, which the stdio transport took for a dead server.
    assert jsonrpc.encode({"x": "\ud800é"}) == b'{"x":"\\ud800\\u00e9"}'


def test_a_lone_surrogate_from_a_server_becomes_a_replacement_character() -> None:
    from aimlchat.tools.mcp import jsonrpc

    raw = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a\\ud800b"}]}}'
    (msg,) = jsonrpc.decode(raw)
    text = msg["result"]["content"][0]["text"]
    assert text == "a\ufffdb" and text.encode("utf-8")


def test_a_lone_surrogate_in_the_models_arguments_becomes_a_replacement_character() -> None:
    from aimlchat.messages import ToolCall

    args = ToolCall("c", "t", '{"path": "x\\ud800", "n": ["\\udfff"]}').arguments()
    assert args == {"path": "x\ufffd", "n": ["\ufffd"]}
    assert json.dumps(args, ensure_ascii=False).encode("utf-8")  # what a command's stdin gets


def test_a_byte_that_is_no_utf8_from_a_server_becomes_a_replacement_character() -> None:
    from aimlchat.tools.mcp import jsonrpc

    raw = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a\xffb"}]}}'
    (msg,) = jsonrpc.decode(raw)  # before: UnicodeDecodeError, taken for a stray line
    assert msg["result"]["content"][0]["text"] == "a\ufffdb"
