"""How MCP servers start, stop and are offered over a run: several start together, a slow
start is said, a Ctrl-C while starting stops them (and in chat only the command), a
server that died is no longer offered and `/tools` starts it anew; allow and deny entries
that match nothing are said; names that clash with `all` and `none` are refused; a
server that offers nothing is said, and so is an offer past what APIs take. Against the
official SDK's server (tests/mcp_servers/), waits on events, never on a sleep."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")

from aimlchat import exit_hooks
from aimlchat.errors import ConfigError
from aimlchat.tools.mcp import server as mcp_server
from aimlchat.tools.mcp.config import parse_server, parse_servers
from aimlchat.tools.mcp.errors import ServerFailed
from aimlchat.tools.mcp.server import NOT_STARTED, RUNNING, STOPPED, Server, start_all
from aimlchat.tools.mcp.session import McpTool, Session
from aimlchat.tools.toolset import StartInterrupted, Toolset
from tests.conftest import invoke, spawn
from tests.loopback import LoopbackServer
from tests.loopback_tools import text_reply, tool_reply
from tests.test_mcp_client import ALL_TOOLS, TOOLS_SERVER, group_alive, wait_for
from tests.test_mcp_tools import PROMPT, no_traceback, offered, write_config

GATED = str(Path(__file__).parent / "mcp_servers" / "gated.py")
STDIO = [sys.executable, TOOLS_SERVER, "stdio"]


@pytest.fixture
def env(cli_env: dict[str, str], home: Path) -> dict[str, str]:
    (home / "state").mkdir()
    return {**cli_env, "XDG_STATE_HOME": str(home / "state")}


@pytest.fixture
def gates(tmp_path: Path) -> Path:
    folder = tmp_path / "gates"
    folder.mkdir()
    return folder


def gated(name: str, gates: Path, **env: str) -> dict[str, Any]:
    """A `[mcp.NAME]` table for tests/mcp_servers/gated.py."""
    return {"command": [sys.executable, GATED, name], "env": {"GATED_DIR": str(gates), **env}}


def pids(gates: Path, name: str) -> list[int]:
    path = gates / f"{name}.pid"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def started(gates: Path, name: str, times: int = 1) -> list[int]:
    assert wait_for(lambda: len(pids(gates, name)) >= times), f"{name} never started"
    return pids(gates, name)


def gone(pid: int) -> bool:
    return wait_for(lambda: not group_alive(pid), 15)


# -- starting together, and saying so ----------------------------------------------------


def test_servers_named_together_start_in_parallel(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path
) -> None:
    # Each serves only once all three have started: started one after another, the first
    # would wait for the others for ever (then give up) and `ask` would fail.
    write_config(home, **{n: gated(n, gates, GATED_BARRIER="3") for n in ("a", "b", "c")})
    r = invoke(["ask", "-T", "all", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    names = offered(server)
    assert {"a__echo", "b__echo", "c__echo"} <= set(names)
    assert "going on without" not in r.stderr


def test_several_dash_t_servers_and_aimlchat_tools_start_them_together(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path
) -> None:
    write_config(home, **{n: gated(n, gates, GATED_BARRIER="2") for n in ("a", "b")})
    r = invoke(["ask", "-T", "a", "-T", "b.add", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    assert "b__add" in offered(server) and "a__echo" in offered(server)
    for name in ("a", "b"):
        (gates / f"{name}.pid").unlink()
    listed = invoke(["tools", "a", "b"], env)
    assert listed.returncode == 0, listed.stderr
    assert "a.echo" in listed.stdout.decode() and "b.echo" in listed.stdout.decode()


def test_a_slow_start_is_said_once_on_stderr(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path
) -> None:
    write_config(home, slow=gated("slow", gates, GATED_GATE="1"))
    child = spawn(["ask", "-T", "slow", "--yes", "hi"], env)
    seen = io.StringIO()
    child.logfile_read = seen
    child.expect_exact("starting MCP server slow…", timeout=20)
    (gates / "go").write_text("go")
    child.expect_exact("Hello from the loopback server.", timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert seen.getvalue().count("starting MCP server") == 1
    assert "slow__echo" in offered(server)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_while_servers_start_stops_every_one(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path, how: str
) -> None:
    write_config(home, **{n: gated(n, gates, GATED_GATE="1") for n in ("h1", "h2")})
    args = ["ask", "-T", "all", "--yes", "hi"]
    if how == "ctrl-c":
        child = spawn(args, env)
        first, second = started(gates, "h1")[0], started(gates, "h2")[0]
        child.sendintr()
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        assert child.exitstatus == 130, child.before
        no_traceback(child.before)
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aimlchat", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            first, second = started(gates, "h1")[0], started(gates, "h2")[0]
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 143, err.decode()
        no_traceback(err.decode())
    assert gone(first) and gone(second), "a server outlived the interrupted start"
    assert server.chat_bodies() == []


# -- in chat -----------------------------------------------------------------------------


def test_ctrl_c_while_slash_tools_starts_a_server_goes_back_to_the_prompt(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path
) -> None:
    write_config(home, hang=gated("hang", gates, GATED_GATE="1"))
    child = spawn(["chat"], env)
    child.expect_exact(PROMPT)
    child.sendline("/tools hang")
    (pid,) = started(gates, "hang")
    child.sendintr()
    child.expect_exact("MCP server hang was not started", timeout=30)
    child.expect_exact(PROMPT)
    assert gone(pid), "the server outlived the Ctrl-C"
    (gates / "go").write_text("go")  # it may be tried again, and now starts
    child.sendline("/tools hang")
    child.expect_exact("tools offered: hang.echo", timeout=30)
    child.expect_exact(PROMPT)
    assert len(pids(gates, "hang")) == 2
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert gone(pids(gates, "hang")[1])


def test_a_server_that_died_is_withdrawn_and_slash_tools_starts_it_anew(
    env: dict[str, str], server: LoopbackServer, home: Path, gates: Path
) -> None:
    write_config(home, srv=gated("srv", gates, GATED_GATE=""))
    server.push(
        tool_reply(("a", "srv__crash", "{}")),
        text_reply("It died."),
        tool_reply(("b", "srv__echo", '{"text": "back"}')),
        text_reply("It is back."),
    )
    child = spawn(["chat", "-T", "srv", "--yes"], env)
    child.expect_exact(PROMPT)
    (first,) = started(gates, "srv")
    child.sendline("crash it")
    child.expect_exact(
        "MCP server srv stopped; its tools are no longer offered "
        "(in chat, /tools srv starts it again)"
    )
    child.expect_exact("It died.")
    child.expect_exact(PROMPT)
    assert not any(n.startswith("srv__") for n in offered(server, 1)), "a dead server offered"
    assert gone(first)
    child.sendline("/tools srv")  # an explicit request: started anew
    child.expect_exact("tools offered: srv.echo")
    child.expect_exact(PROMPT)
    second = started(gates, "srv", 2)[1]
    assert second != first
    child.sendline("again")
    child.expect_exact("← srv.echo: ok")
    child.expect_exact("It is back.")
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "srv__echo" in offered(server, 2)
    assert [m["content"] for m in server.chat_bodies()[3]["messages"] if m["role"] == "tool"][
        -1
    ] == "back"
    assert gone(second)


def test_ask_withdraws_a_dead_servers_tools_for_the_rest_of_the_turn(
    env: dict[str, str], server: LoopbackServer, home: Path
) -> None:
    write_config(home, srv={"command": STDIO})
    server.push(tool_reply(("a", "srv__crash", "{}")), text_reply("It died."))
    r = invoke(["ask", "-T", "srv", "--yes", "crash it"], env)
    assert r.returncode == 0, r.stderr
    assert any(n.startswith("srv__") for n in offered(server, 0))
    assert offered(server, 1) == []
    said = [line for line in r.stderr.splitlines() if "no longer offered" in line]
    assert len(said) == 1, r.stderr


# -- allow and deny ----------------------------------------------------------------------


def test_allow_and_deny_take_the_servers_own_prefix() -> None:
    spec = parse_server("pol", {"command": STDIO, "deny": ["pol.fail"], "allow": ["pol.echo"]})
    assert spec.deny == ("fail",) and spec.allow == ("echo",)


def test_an_entry_naming_another_servers_tool_is_a_config_error(
    env: dict[str, str], home: Path
) -> None:
    with pytest.raises(ConfigError, match=r'\[mcp.pol\] deny names "web.fail", a tool of another'):
        parse_servers({"pol": {"command": STDIO, "deny": ["web.fail"]}, "web": {"command": STDIO}})
    write_config(home, pol={"command": STDIO, "deny": ["web.fail"]}, web={"command": STDIO})
    r = invoke(["ask", "-T", "pol", "hi"], env)
    assert r.returncode == 3
    assert '[mcp.pol] deny names "web.fail", a tool of another server' in r.stderr


def test_a_qualified_deny_is_honoured_and_entries_matching_nothing_are_said(
    env: dict[str, str], server: LoopbackServer, home: Path
) -> None:
    write_config(
        home, pol={"command": STDIO, "deny": ["pol.fail", "nonexistent"], "allow": ["ech"]}
    )
    r = invoke(["ask", "-T", "pol", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    names = offered(server)
    assert "pol__echo" in names and "pol__fail" not in names
    lines = r.stderr.splitlines()
    assert (
        lines.count(
            'aimlchat: warning: [mcp.pol] deny names "nonexistent", which pol does not offer'
        )
        == 1
    )
    assert (
        lines.count('aimlchat: warning: [mcp.pol] allow names "ech", which pol does not offer') == 1
    )


# -- names and counts --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["all", "none"])
def test_all_and_none_cannot_name_a_server(env: dict[str, str], home: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}' cannot name a server"):
        parse_server(name, {"command": STDIO})
    write_config(home, **{name: {"command": STDIO}})
    r = invoke(["ask", "hi"], env)
    assert r.returncode == 3
    assert len(r.stderr.splitlines()) == 1 and f"'{name}' cannot name a server" in r.stderr


def test_a_server_named_with_dash_t_that_offers_nothing_is_said(
    env: dict[str, str], server: LoopbackServer, home: Path
) -> None:
    write_config(home, tr={"command": STDIO, "deny": ALL_TOOLS})
    r = invoke(["ask", "-T", "tr", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    said = f"aimlchat: warning: MCP server tr offers no tools ({len(ALL_TOOLS)} denied)"
    assert r.stderr.splitlines().count(said) == 1, r.stderr


def test_more_tools_than_apis_take_is_said_once_and_still_offered(
    env: dict[str, str], server: LoopbackServer, home: Path
) -> None:
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    tables = "".join(f'[tools.t{i}]\ncommand = ["true"]\n' for i in range(130))
    (folder / "config.toml").write_text(tables)
    r = invoke(["ask", "-T", "all", "--yes", "hi"], env)
    assert r.returncode == 0, r.stderr
    count = len(offered(server))
    assert count > 128
    said = (
        f"aimlchat: warning: {count} tools offered; many APIs refuse more than 128: "
        "offer fewer with -T server.tool"
    )
    assert r.stderr.splitlines().count(said) == 1, r.stderr


# -- starts that race a close, a restart or each other -----------------------------------


@pytest.fixture
def hooks() -> Iterator[None]:
    """Whatever a test starts is stopped at its end, as at a process's exit."""
    yield
    exit_hooks.run()


def stdio_server(name: str = "srv") -> Server:
    return Server(parse_server(name, {"command": STDIO}), log_dir=None, environ=dict(os.environ))


def interrupt(_line: str) -> None:
    raise KeyboardInterrupt  # a Ctrl-C while start_all waits (it says a slow start first)


def test_a_start_left_over_from_a_ctrl_c_leaves_the_server_started_since_alone(
    monkeypatch: pytest.MonkeyPatch, hooks: None
) -> None:
    # The first start's initialize hangs (a slow server) past the Ctrl-C and past the
    # restart that `/tools NAME` makes, then gives up: that must not touch the new session.
    monkeypatch.setattr(mcp_server, "NOTICE_AFTER", 0.0)
    monkeypatch.setattr(mcp_server, "_JOIN_GRACE", 0.0)
    opened = Session.open
    gate, waiting = threading.Event(), threading.Event()
    first = [True]

    def open_(self: Session) -> None:
        if first[0]:
            first[0] = False
            waiting.set()
            gate.wait()
            raise ServerFailed("srv", "MCP server srv did not answer initialize")
        opened(self)

    monkeypatch.setattr(Session, "open", open_)
    srv = stdio_server()
    with pytest.raises(KeyboardInterrupt):
        start_all([srv], say=interrupt)
    assert waiting.is_set() and srv.state == NOT_STARTED
    (old,) = [t for t in threading.enumerate() if t.name == "mcp-start-srv"]
    srv.reset()
    start_all([srv])
    assert srv.state == RUNNING
    session, pid = srv.session, srv.pid
    gate.set()  # the old start gives up now
    old.join(30)
    assert not old.is_alive()
    assert srv.state == RUNNING and srv.session is session
    assert srv.call("echo", {"text": "still here"}).text == "still here"
    assert pid is not None and group_alive(pid)


def test_two_threads_starting_one_server_start_it_once(
    monkeypatch: pytest.MonkeyPatch, hooks: None
) -> None:
    opened = Session.open
    sessions: list[Session] = []
    gate, waiting = threading.Event(), threading.Event()

    def open_(self: Session) -> None:
        sessions.append(self)
        if len(sessions) == 1:
            waiting.set()
            gate.wait()
        opened(self)

    monkeypatch.setattr(Session, "open", open_)
    srv = stdio_server()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            srv.start()
        except BaseException as exc:
            errors.append(exc)

    one = threading.Thread(target=start)
    one.start()
    assert waiting.wait(20)
    two = threading.Thread(target=start)  # `/tools all` racing a call, say
    two.start()
    two.join(0.5)  # the time it would need to open a second session of its own
    gate.set()
    one.join(30)
    two.join(30)
    assert errors == [] and len(sessions) == 1, "one server started twice"
    assert srv.state == RUNNING and srv.session is sessions[0]
    assert srv.call("echo", {"text": "once"}).text == "once"


def test_a_close_after_the_tools_are_listed_leaves_the_server_not_running(
    monkeypatch: pytest.MonkeyPatch, hooks: None
) -> None:
    srv = stdio_server()
    listed = Session.list_tools

    def list_tools(self: Session) -> list[McpTool]:
        tools = listed(self)
        srv.close()  # a Ctrl-C in start_all's thread lands right here
        return tools

    monkeypatch.setattr(Session, "list_tools", list_tools)
    with pytest.raises(ServerFailed, match="MCP server srv was not started"):
        srv.start()
    assert srv.state != RUNNING and srv.session is None
    monkeypatch.setattr(Session, "list_tools", listed)
    with pytest.raises(ServerFailed, match="was not started"):  # not an AssertionError
        srv.call("echo", {"text": "x"})
    srv.reset()  # what `/tools srv` does: it starts anew
    assert srv.call("echo", {"text": "back"}).text == "back"


def test_a_ctrl_c_while_servers_start_names_one_that_had_just_started_too(
    monkeypatch: pytest.MonkeyPatch, gates: Path, hooks: None
) -> None:
    monkeypatch.setattr(mcp_server, "NOTICE_AFTER", 0.0)
    specs = parse_servers(
        {"quick": {"command": STDIO}, "hang": gated("hang", gates, GATED_GATE="1")}
    )

    def ctrl_c_once_quick_runs(_line: str) -> None:  # said for hang, still starting
        assert wait_for(lambda: toolset.server("quick").state == RUNNING)
        raise KeyboardInterrupt

    toolset = Toolset(
        {},
        specs,
        log_dir=None,
        environ=dict(os.environ),
        warn=print,
        info=ctrl_c_once_quick_runs,
    )
    with pytest.raises(StartInterrupted) as caught:
        toolset.start(["all"])
    assert toolset.server("quick").state == STOPPED  # closed with the rest: so it is named
    assert caught.value.servers == ["quick", "hang"]


@pytest.mark.parametrize("tty", [True, False])
def test_the_slow_start_line_is_said_on_a_terminal_only(
    env: dict[str, str],
    server: LoopbackServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tty: bool,
) -> None:
    # On a pipe it would be stderr's first line, where a script looks for the error.
    monkeypatch.setattr(mcp_server, "NOTICE_AFTER", 0.0)  # every start is slow
    write_config(home, srv={"command": STDIO})
    r = invoke(["ask", "-T", "srv", "--yes", "hi"], env, stderr_tty=tty)
    assert r.returncode == 0, r.stderr
    assert ("starting MCP server srv…" in r.stderr) is tty, r.stderr
    assert "srv__echo" in offered(server)
