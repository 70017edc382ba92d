"""MCP tools end to end, through the real CLI: `aimlchat ask` and `chat` offer an SDK
server's tools (tests/mcp_servers/tools_server.py, over stdio and Streamable HTTP), the
loopback API asks for them, consent is asked or not, results go back to the model, and no
server process outlives aimlchat however it ends. Waits are on events, never a sleep."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")

from tests.conftest import invoke, run_cli, spawn
from tests.loopback import LoopbackServer
from tests.loopback_tools import text_reply, tool_reply
from tests.test_hangup import hang_up
from tests.test_mcp_client import TOOLS_SERVER, HttpServer, group_alive, wait_for
from tests.test_tool_calls import messages_valid

PROMPT = "›"
STDIO = [sys.executable, TOOLS_SERVER, "stdio"]
VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TRANSPORTS = ["stdio", "http"]


# -- the servers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """One Streamable HTTP server for the module: stateless enough to share (each run
    opens its own session), and starting the SDK's app is the slow part."""
    marks = tmp_path_factory.mktemp("http-marks")
    srv = HttpServer(marks, {})
    yield srv
    srv.stop()


@pytest.fixture
def env(cli_env: dict[str, str], home: Path, marks: Path) -> dict[str, str]:
    """The CLI's environment, with the state folder (MCP logs) inside the test's home
    and the stdio server's marks folder (inherited by the server it starts)."""
    (home / "state").mkdir()
    return {**cli_env, "XDG_STATE_HOME": str(home / "state"), "MCP_TEST_MARKS": str(marks)}


class Srv:
    """The `[mcp.srv]` a test talks to, over one transport: where it leaves its marks,
    and how to tell it is gone (a stdio server's pid file; an HTTP session's DELETE)."""

    def __init__(self, transport: str, home: Path, marks: Path, http: HttpServer | None) -> None:
        self.transport = transport
        self.home = home
        self.http = http
        self.marks = http.marks if http is not None else marks
        self.pid_file = home / "srv.pid"
        if http is not None:  # the shared server's marks: this test's own from here on
            for mark in ("started", "cancelled", "requests.log"):
                (self.marks / mark).unlink(missing_ok=True)

    def table(self, **keys: Any) -> dict[str, Any]:
        if self.http is not None:
            return {"url": self.http.url, **keys}
        env = {"MCP_TEST_PID_FILE": str(self.pid_file), **keys.pop("env", {})}
        return {"command": STDIO, "env": env, **keys}

    def configure(self, **keys: Any) -> None:
        write_config(self.home, srv=self.table(**keys))

    def pid(self) -> int:
        assert wait_for(lambda: self.pid_file.exists() and bool(self.pid_file.read_text()))
        return int(self.pid_file.read_text())

    def gone(self) -> bool:
        """After aimlchat exited: nothing of the server is left (its process group, for
        stdio; for HTTP, its session was ended with a DELETE)."""
        if self.http is not None:
            return any(req[0] == "DELETE" for req in self.http.requests())
        return wait_for(lambda: not group_alive(self.pid()), 10)


@pytest.fixture(params=TRANSPORTS)
def srv(request: pytest.FixtureRequest, home: Path, marks: Path) -> Srv:
    http = request.getfixturevalue("shared_http") if request.param == "http" else None
    return Srv(request.param, home, marks, http)


@pytest.fixture
def stdio_srv(home: Path, marks: Path) -> Srv:
    return Srv("stdio", home, marks, None)


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings, lists, numbers and booleans read the same in TOML


def write_config(home: Path, **servers: dict[str, Any]) -> None:
    lines = []
    for name, table in servers.items():
        lines.append(f"[mcp.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("\n".join(lines) + "\n")


def run_detached(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The CLI with no terminal at all: pipes, and a new session (no /dev/tty to open),
    as under cron or CI."""
    return subprocess.run(
        [sys.executable, "-m", "aimlchat", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
        start_new_session=True,
    )


def tool_messages(server: LoopbackServer, request: int = 1) -> list[str]:
    return [m["content"] for m in server.chat_bodies()[request]["messages"] if m["role"] == "tool"]


def offered(server: LoopbackServer, request: int = 0) -> list[str]:
    return [t["function"]["name"] for t in server.chat_bodies()[request].get("tools") or []]


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr


# -- the round trip --------------------------------------------------------------------


def test_a_tool_round_trip_offers_model_names_and_shows_people_labels(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure()
    server.push(tool_reply(("c1", "srv__echo", '{"text": "héllo"}')), text_reply("It said héllo."))
    r = run_cli(["ask", "-T", "srv", "--yes", "echo it"], env, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert r.stdout.decode() == "It said héllo.\n"  # the pipe carries the model's text only
    names = offered(server)
    assert "srv__echo" in names and "srv__add" in names
    assert len(set(names)) == len(names) and all(VALID_NAME.match(n) for n in names)
    messages = server.chat_bodies()[1]["messages"]
    assert messages[-1] == {"role": "tool", "tool_call_id": "c1", "content": "héllo"}
    messages_valid(messages)
    assert '→ srv.echo {"text": "héllo"}' in err and "← srv.echo: ok" in err
    assert "srv__" not in err  # people never see the model's names
    assert srv.gone(), "the server outlived a normal ask"


def test_dash_t_server_dot_tool_offers_that_one_tool(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    r = invoke(["ask", "-T", "srv.add", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    assert offered(server) == ["srv__add"]


def test_ndjson_events_carry_the_name_the_model_used_and_the_one_people_use(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    server.push(tool_reply(("c1", "srv__add", '{"a": 1, "b": 2}')), text_reply("3."))
    r = invoke(["ask", "-T", "srv", "--yes", "--ndjson", "add"], env)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (call["name"], call["label"]) == ("srv__add", "srv.add")
    assert (result["name"], result["label"], result["content"]) == ("srv__add", "srv.add", "3")


# -- consent ---------------------------------------------------------------------------


def test_consent_is_asked_with_server_tool_and_pretty_arguments_y_runs_n_declines(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    server.push(
        tool_reply(
            ("a", "srv__echo", '{"text": "from the model"}'),
            ("b", "srv__sleep", '{"seconds": 0}'),
        ),
        text_reply("One ran, one did not."),
    )
    child = spawn(["ask", "-T", "srv", "echo, then sleep"], env)
    seen = io.StringIO()
    child.logfile_read = seen
    child.expect_exact("→ srv.echo {")  # the whole call, pretty-printed, above the question
    child.expect_exact('"text": "from the model"')
    child.expect_exact("run srv.echo on MCP server srv? [y/N/a(lways this session)]")
    child.sendline("y")
    child.expect_exact("← srv.echo: ok")
    child.expect_exact('"seconds": 0')
    child.expect_exact("run srv.sleep on MCP server srv? [y/N/a(lways this session)]")
    child.sendline("n")
    child.expect_exact("← srv.sleep: declined")
    child.expect_exact("One ran, one did not.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "srv__" not in seen.getvalue()  # people never see the model's names
    results = tool_messages(server)
    assert results[0] == "from the model"
    assert results[1].startswith("declined:") and "the user declined to run it" in results[1]
    assert not (stdio_srv.marks / "started").exists(), "a declined call ran"
    assert stdio_srv.gone()


def test_with_no_terminal_only_allowed_tools_run_and_stderr_says_how_to_allow(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure(allow=["echo"])
    server.push(
        tool_reply(
            ("a", "srv__echo", '{"text": "allowed"}'), ("b", "srv__sleep", '{"seconds": 0}')
        ),
        text_reply("Only the allowed one ran."),
    )
    r = run_detached(["ask", "-T", "srv", "go"], env)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    results = tool_messages(server)
    assert results[0] == "allowed"
    assert results[1].startswith("declined:") and "no terminal" in results[1]
    assert not (srv.marks / "started").exists(), "a call nobody allowed ran"
    assert (
        'tool srv.sleep not run: no terminal to ask for consent; add "sleep" to allow in '
        "[mcp.srv], or set trusted = true"
    ) in err
    assert "srv__" not in err
    no_traceback(err)


def test_a_trusted_server_runs_every_tool_without_asking(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure(trusted=True)
    server.push(tool_reply(("a", "srv__sleep", '{"seconds": 0}')), text_reply("Slept."))
    r = run_detached(["ask", "-T", "srv", "go"], env)
    assert r.returncode == 0, r.stderr.decode()
    assert tool_messages(server) == ["slept"]
    assert '→ srv.sleep {"seconds": 0}' in r.stderr.decode()


def test_a_denied_tool_is_never_offered_and_naming_it_is_a_usage_error(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure(deny=["crash", "child"])
    r = invoke(["ask", "-T", "srv", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    names = offered(server)
    assert "srv__echo" in names and "srv__crash" not in names and "srv__child" not in names
    denied = invoke(["ask", "-T", "srv.crash", "--yes", "hi"], env)
    assert denied.returncode == 2
    assert "srv.crash is denied in [mcp.srv]" in denied.stderr
    assert len(server.chat_bodies()) == 1  # nothing sent for the refused run


def test_http_headers_take_the_key_from_the_environment_and_a_401_names_the_server(
    env: dict[str, str], server: LoopbackServer, home: Path, marks: Path
) -> None:
    web = HttpServer(marks, {"MCP_TEST_TOKEN": "tok-123"})
    try:
        headers = {"Authorization": "Bearer ${MY_MCP_KEY}"}  # the key stays out of the file
        write_config(home, web={"url": web.url, "headers": headers, "trusted": True})
        server.push(tool_reply(("a", "web__add", '{"a": 2, "b": 40}')), text_reply("42."))
        r = invoke(["ask", "-T", "web", "hi"], {**env, "MY_MCP_KEY": "tok-123"})
        assert r.returncode == 0, r.stderr
        assert tool_messages(server) == ["42"]
        refused = invoke(["ask", "-T", "web", "hi"], {**env, "MY_MCP_KEY": "wrong"})
    finally:
        web.stop()
    assert refused.returncode == 3
    assert refused.stderr.startswith("aimlchat: error: MCP server web refused the credentials")
    assert len(refused.stderr.splitlines()) == 1 and "wrong" not in refused.stderr
    assert len(server.chat_bodies()) == 2  # nothing sent for the refused run


# -- results ---------------------------------------------------------------------------


def test_an_is_error_result_and_a_call_past_its_timeout_reach_the_model_as_errors(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure(timeout=10)  # time enough for the quick call on a busy CI machine
    server.push(
        tool_reply(
            ("a", "srv__fail", '{"message": "disk is full"}'),
            ("b", "srv__sleep", '{"seconds": 120}'),
        ),
        text_reply("Both failed."),
    )
    r = invoke(["ask", "-T", "srv", "--yes", "go"], env)
    assert r.returncode == 0, r.stderr
    failed, late = tool_messages(server)
    assert failed.startswith("error: ") and "disk is full" in failed
    assert late == "error: the tool sleep took longer than 10 s and was cancelled"
    assert wait_for((srv.marks / "cancelled").exists), "the server never saw the cancellation"
    assert "← srv.fail: " in r.stderr and "disk is full" in r.stderr
    assert "← srv.sleep: the tool sleep took longer than 10 s" in r.stderr


# -- servers that fail -----------------------------------------------------------------


def test_a_server_crashing_at_start_ends_ask_with_one_line_and_sends_nothing(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure(env={"MCP_TEST_CRASH_AT_START": "1"})
    r = run_cli(["ask", "-T", "srv", "--yes", "hi"], env, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "MCP server srv exited while starting" in lines[0]
    assert "fatal: no such database 'nowhere.db'" in lines[0]
    no_traceback(err)
    assert server.chat_bodies() == []


def test_a_server_crashing_at_start_under_all_is_left_out_with_one_warning(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure(env={"MCP_TEST_CRASH_AT_START": "1"})
    r = run_cli(["ask", "-T", "all", "--yes", "hi"], env, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert r.stdout == b"Hello from the loopback server.\n"
    warnings = [line for line in err.splitlines() if "MCP server srv" in line]
    assert len(warnings) == 1, err
    assert "nowhere.db" in warnings[0] and "going on without its tools" in warnings[0]
    names = offered(server)
    assert names and not any(name.startswith("srv__") for name in names)
    no_traceback(err)


@pytest.mark.parametrize("history", [[], ["--no-history"]], ids=["logged", "in-memory"])
def test_a_server_dying_mid_call_is_an_error_for_the_model_and_the_turn_goes_on(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv, history: list[str]
) -> None:
    stdio_srv.configure()
    server.push(tool_reply(("a", "srv__crash", "{}")), text_reply("The server died."))
    r = run_cli(["ask", *history, "-T", "srv", "--yes", "crash it"], env, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert r.stdout == b"The server died.\n"
    (result,) = tool_messages(server)
    assert result.startswith("error: MCP server srv exited while running crash")
    assert result.endswith("its stderr ends: crash: the server is going down")
    assert "← srv.crash: MCP server srv exited" in err
    assert "crash: the server is going down" in err
    no_traceback(err)
    assert stdio_srv.gone()


def test_a_secret_a_dying_server_echoes_is_starred_for_the_model_and_on_stderr(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure(env={"MCP_TEST_SECRET": "${MY_MCP_TOKEN}"})
    server.push(tool_reply(("a", "srv__crash", "{}")), text_reply("The server died."))
    r = run_cli(["ask", "-T", "srv", "--yes", "crash it"], {**env, "MY_MCP_TOKEN": "tk-9f3e71"})
    err = r.stderr.decode()
    assert r.returncode == 0, err
    (result,) = tool_messages(server)
    assert result.endswith("crash: my token was ***"), result
    assert "tk-9f3e71" not in err and "crash: my token was ***" in err
    assert (
        "tk-9f3e71"
        in (stdio_srv.home / "state").joinpath("aimlchat", "logs", "mcp-srv.log").read_text()
    )  # the user's own 0600 log keeps what the server said


def test_a_running_tool_shows_a_spinner_on_a_terminal_erased_before_its_result(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    from aimlchat.terminal.spinner import ERASE

    stdio_srv.configure()
    server.push(tool_reply(("a", "srv__sleep", '{"seconds": 1.2}')), text_reply("Rested."))
    child = spawn(["ask", "-T", "srv", "--yes", "--raw", "rest"], env)
    child.expect(r"running srv\.sleep \d\.\d s")
    child.expect(pexpect.EOF)
    seen = str(child.after) + str(child.before)
    child.close()
    assert child.exitstatus == 0, seen
    result = seen.index("← srv.sleep: ok")
    assert seen.rindex(ERASE, 0, result) > seen.rindex("running srv.sleep", 0, result)
    assert "running srv.sleep" not in seen[result:]  # never drawn again after it
    server.push(tool_reply(("a", "srv__sleep", '{"seconds": 1.2}')), text_reply("Rested."))
    piped = run_cli(["ask", "-T", "srv", "--yes", "rest"], env, timeout=60)
    assert piped.returncode == 0 and piped.stdout == b"Rested.\n", piped.stderr
    assert "running" not in piped.stderr.decode() and "\x1b" not in piped.stderr.decode()


def _screen_rows(child: pexpect.spawn, cols: int, send: str = "") -> list[str]:
    """Every row the terminal showed by the end (scrollback too), after `send` was typed
    once the spinner turns."""
    from tests.test_render import Screen

    screen = Screen(child, 30, cols)
    sent = not send

    def type_once_it_turns(screen: Screen) -> None:
        nonlocal sent
        if not sent and "running" in "\n".join(screen.screen.display):
            child.send(send)
            sent = True

    screen.pump(each=type_once_it_turns)
    child.close()
    assert sent, screen.rows()
    return screen.rows()


def test_debug_lines_and_typed_keys_never_land_beside_the_tool_spinner(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    server.push(tool_reply(("a", "srv__sleep", '{"seconds": 1.2}')), text_reply("Rested."))
    child = spawn(["ask", "--debug", "-T", "srv", "--yes", "--raw", "rest"], env)
    rows = _screen_rows(child, 100, send="typed ahead\r")
    assert child.exitstatus == 0, rows
    assert any(row.startswith("MCP srv <- ") and '"slept"' in row for row in rows), rows
    assert not [row for row in rows if "running srv.sleep" in row], rows  # all erased
    assert not [row for row in rows if "typed ahead" in row], rows  # not echoed


def test_keys_typed_while_a_tool_runs_are_not_echoed_with_stdin_piped_either(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure(allow=["sleep"])
    server.push(tool_reply(("a", "srv__sleep", '{"seconds": 1.2}')), text_reply("Rested."))
    command = f"echo context | {sys.executable} -m aimlchat ask -T srv --raw rest"
    child = pexpect.spawn(
        "bash", ["-c", command], env=env, dimensions=(30, 100), timeout=15, encoding="utf-8"
    )
    rows = _screen_rows(child, 100, send="typed ahead\r")
    assert child.exitstatus == 0, rows
    assert any("Rested." in row for row in rows), rows
    assert not [row for row in rows if "typed ahead" in row or "running" in row], rows


def test_a_spinner_line_wider_than_the_terminal_is_cut_not_wrapped(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    write_config(stdio_srv.home, a_rather_long_server_name_for_a_narrow_window=stdio_srv.table())
    call = ("a", "a_rather_long_server_name_for_a_narrow_window__sleep", '{"seconds": 1.2}')
    server.push(tool_reply(call), text_reply("Rested."))
    args = ["ask", "-T", "a_rather_long_server_name_for_a_narrow_window", "--yes", "rest"]
    child = spawn(args, env, dimensions=(30, 40))
    rows = _screen_rows(child, 40)
    assert child.exitstatus == 0, rows
    assert not [row for row in rows if "running" in row], rows  # no wrapped leftovers


def test_debug_traces_every_mcp_message_on_stderr_and_none_without_it(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    for debug in (["--debug"], []):
        server.push(tool_reply(("a", "srv__echo", '{"text": "hi"}')), text_reply("Done."))
        r = run_cli(["ask", *debug, "-T", "srv", "--yes", "say hi"], env, timeout=60)
        err = r.stderr.decode()
        assert r.returncode == 0, err
        assert r.stdout == b"Done.\n"  # the trace never reaches stdout
        traced = [line for line in err.splitlines() if line.startswith("MCP srv ")]
        if not debug:
            assert traced == [], err
            continue
        assert traced[0].startswith('MCP srv -> {"jsonrpc": "2.0", "id": 1, "method": "initialize"')
        call = '"method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}'
        assert any(line.startswith("MCP srv -> ") and call in line for line in traced), err
        assert any(line.startswith("MCP srv <- ") and '"text": "hi"' in line for line in traced)
        assert env["AIML_API_KEY"] not in err


def test_an_http_server_nobody_answers_ends_ask_with_one_line_naming_it(
    env: dict[str, str], server: LoopbackServer, home: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_config(home, web={"url": f"http://127.0.0.1:{port}/mcp"})
    r = invoke(["ask", "-T", "web", "--yes", "hi"], env)
    assert r.returncode == 4  # a network failure, as for the API itself
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert f"MCP server web: cannot reach http://127.0.0.1:{port}/mcp" in lines[0]
    assert "connection refused" in lines[0] and "HTTPConnectionPool" not in lines[0]
    no_traceback(r.stderr)
    assert server.chat_bodies() == []


def test_an_http_server_dying_mid_call_is_an_error_for_the_model_and_the_turn_goes_on(
    env: dict[str, str], server: LoopbackServer, home: Path, marks: Path
) -> None:
    web = HttpServer(marks, {})  # its own: the call kills it
    try:
        write_config(home, web={"url": web.url})
        server.push(tool_reply(("a", "web__crash", "{}")), text_reply("The server died."))
        r = invoke(["ask", "-T", "web", "--yes", "crash it"], env)
    finally:
        web.stop()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"The server died.\n"
    (result,) = tool_messages(server)
    assert result == (
        "error: MCP server web: the connection broke before the answer ended (did it stop?)"
    )
    assert "← web.crash: MCP server web" in r.stderr
    no_traceback(r.stderr)


# -- no server left behind -------------------------------------------------------------


def test_chat_asks_in_the_repl_and_exit_stops_the_server(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    server.push(tool_reply(("a", "srv__add", '{"a": 2, "b": 40}')), text_reply("It is 42."))
    child = spawn(["chat", "-T", "srv"], env)
    child.expect_exact(PROMPT)
    child.sendline("add them")
    child.expect_exact('"a": 2,')
    child.expect_exact("run srv.add on MCP server srv? [y/N/a(lways this session)]")
    child.sendline("a")  # always, for this tool, this session
    child.expect_exact("← srv.add: ok")
    child.expect_exact("It is 42.")
    child.expect_exact(PROMPT)
    server.push(tool_reply(("b", "srv__add", '{"a": 1, "b": 1}')), text_reply("It is 2."))
    child.sendline("again")
    child.expect_exact('→ srv.add {"a": 1, "b": 1}')  # one line: not asked again
    child.expect_exact("← srv.add: ok")
    child.expect_exact("It is 2.")
    child.expect_exact(PROMPT)
    child.sendline("/tools")
    child.expect(r"\[on \] srv\.add +always +MCP server srv")
    child.expect_exact(PROMPT)
    stdio_srv.pid()
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert tool_messages(server) == ["42"]
    assert tool_messages(server, 3) == ["42", "2"]
    assert stdio_srv.gone(), "the server outlived /exit"


def test_ctrl_d_in_chat_stops_the_server(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv
) -> None:
    stdio_srv.configure()
    child = spawn(["chat", "-T", "srv"], env)
    child.expect_exact(PROMPT)
    stdio_srv.pid()  # started with the session, since -T names it
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert stdio_srv.gone(), "the server outlived Ctrl-D"


def _slow_call(server: LoopbackServer) -> None:
    server.push(tool_reply(("s", "srv__sleep", '{"seconds": 120}')))


def test_ctrl_c_during_a_slow_call_cancels_it_and_stops_the_server(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure()
    _slow_call(server)
    child = spawn(["ask", "-T", "srv", "--yes", "sleep"], env)
    assert wait_for((srv.marks / "started").exists), "the call never started"
    child.sendintr()
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus == 130, child.before
    assert wait_for((srv.marks / "cancelled").exists), "the server never saw the cancellation"
    assert srv.gone(), "the server outlived Ctrl-C"


def test_sigterm_during_a_slow_call_exits_143_and_stops_the_server(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure()
    _slow_call(server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "-T", "srv", "--yes", "sleep"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for((srv.marks / "started").exists), "the call never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err.decode()
    no_traceback(err.decode())
    assert srv.gone(), "the server outlived SIGTERM"


def test_sighup_during_a_slow_call_exits_129_and_stops_the_server(
    env: dict[str, str], server: LoopbackServer, srv: Srv
) -> None:
    srv.configure()
    _slow_call(server)
    child = spawn(["ask", "-T", "srv", "--yes", "sleep"], env)
    assert wait_for((srv.marks / "started").exists), "the call never started"
    assert hang_up(child) == 129
    assert srv.gone(), "the server outlived its terminal"


# -- what reaches disk -----------------------------------------------------------------


def test_no_history_keeps_the_session_off_disk_the_server_log_too(
    env: dict[str, str], server: LoopbackServer, stdio_srv: Srv, home: Path
) -> None:
    stdio_srv.configure()
    server.push(
        tool_reply(("a", "srv__echo", '{"text": "secret-argument-7"}')), text_reply("Done.")
    )
    r = invoke(["ask", "--no-history", "-T", "srv", "--yes", "secret-prompt-7"], env)
    assert r.returncode == 0, r.stderr
    assert tool_messages(server) == ["secret-argument-7"]
    written = {
        path.relative_to(home).as_posix()
        for path in home.rglob("*")
        if path.is_file() and path != stdio_srv.pid_file
    }
    written -= {"config/aimlchat/config.toml"}
    # Nothing of the session: no history, no cache, and no server log (a server may write
    # its arguments to stderr): its stderr's tail is kept in memory for an error message.
    assert written == set(), written


def test_the_aiml_api_key_fills_a_header_however_it_was_given(
    env: dict[str, str], server: LoopbackServer, home: Path, marks: Path
) -> None:
    web = HttpServer(marks, {"MCP_TEST_TOKEN": "tok-from-config"})
    try:
        write_config(
            home,
            web={"url": web.url, "headers": {"Authorization": "Bearer ${AIML_API_KEY}"}},
        )
        config = home / "config" / "aimlchat" / "config.toml"
        # The key in config.toml (as `aimlchat key set` or api_key_command give it), not
        # in the environment: the README's example works for every user.
        config.write_text('api_key = "tok-from-config"\n' + config.read_text())
        os.chmod(config, 0o600)
        without = {k: v for k, v in env.items() if k != "AIML_API_KEY"}
        server.push(tool_reply(("a", "web__add", '{"a": 2, "b": 40}')), text_reply("42."))
        r = invoke(["ask", "-T", "web", "--yes", "hi"], without)
    finally:
        web.stop()
    assert r.returncode == 0, r.stderr
    assert tool_messages(server) == ["42"]
