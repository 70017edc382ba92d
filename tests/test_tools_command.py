"""`aimlchat tools`: every tool -T can offer (built-in, command, MCP) and each MCP server's
state, as a table, tab-separated lines or JSON. The MCP servers are the official SDK's
(tests/mcp_servers/tools_server.py); waits are on events, never on a sleep."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import Invocation, invoke, run_cli
from tests.test_ecosystem import _loaded

pytest.importorskip("mcp", reason="the official MCP SDK is a test extra")

from tests.test_mcp_client import ALL_TOOLS, TOOLS_SERVER, group_alive, wait_for

PYTHON = json.dumps(sys.executable)
SERVER = json.dumps(TOOLS_SERVER)


def write_config(home: Path, text: str) -> None:
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


def stdio_server(name: str, *extra: str, env: dict[str, str] | None = None) -> str:
    """A `[mcp.NAME]` table running the SDK's server over stdio."""
    lines = [f"[mcp.{name}]", f'command = [{PYTHON}, {SERVER}, "stdio"]', *extra]
    if env:
        lines.append(
            "env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }"
        )
    return "\n".join(lines) + "\n\n"


def tsv(result: Invocation) -> list[list[str]]:
    return [line.split("\t") for line in result.stdout.decode().splitlines()]


def rows_of(result: Invocation) -> dict[str, list[str]]:
    """The lines of both listings on a pipe, by their first field."""
    return {row[0]: row for row in tsv(result) if row != [""]}


def stopped(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    return wait_for(lambda: not group_alive(pid), 10)


# -- local tools --------------------------------------------------------------------------


def test_with_no_config_the_built_ins_are_listed(cli_env: dict[str, str]) -> None:
    result = invoke(["tools"], cli_env)
    assert result.returncode == 0, result.stderr
    lines = tsv(result)
    assert lines[0] == ["TOOL", "KIND", "ASKS", "RUNS", "DESCRIPTION"]
    assert [row[:4] for row in lines[1:]] == [
        ["read_file", "built-in", "asks", "built-in"],
        ["list_dir", "built-in", "asks", "built-in"],
    ]
    assert "MCP SERVER" not in result.stdout.decode()  # none configured: no second listing
    assert b"\x1b" not in result.stdout


def test_command_tools_show_what_runs_them_and_whether_they_ask(
    cli_env: dict[str, str], home: Path
) -> None:
    write_config(
        home,
        '[tools.weather]\ndescription = "Weather for a city\\nsecond line"\n'
        'command = ["curl", "-s", "wttr.in"]\nconfirm = false\n\n'
        '[tools.stamp]\ndescription = "Today\'s date"\ncommand = ["date"]\n\n'
        "[tools.read_file]\nconfirm = false\n",
    )
    rows = rows_of(invoke(["tools"], cli_env))
    assert rows["weather"] == [
        "weather",
        "command",
        "allowed",
        "curl -s wttr.in",
        "Weather for a city",
    ]
    assert rows["stamp"][:4] == ["stamp", "command", "asks", "date"]
    assert rows["read_file"][2] == "allowed"  # a built-in's prompt turned off in config


def test_help_and_no_start_load_no_mcp_client(cli_env: dict[str, str], home: Path) -> None:
    assert not {"requests", "rich", "aimlchat.tools.mcp"} & _loaded(["tools", "--help"], cli_env)
    write_config(home, stdio_server("files"))
    loaded = _loaded(["tools", "--no-start"], cli_env)
    assert "aimlchat.commands.tools_list" in loaded  # the check can see what loads
    assert not {"aimlchat.tools.mcp.session", "aimlchat.tools.mcp.server", "requests"} & loaded


# -- MCP servers --------------------------------------------------------------------------


def test_an_mcp_server_is_started_listed_and_stopped(
    cli_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "files.pid"
    write_config(
        home,
        stdio_server(
            "files",
            'allow = ["echo"]',
            'deny = ["crash"]',
            env={"MCP_TEST_PID_FILE": str(pid_file)},
        ),
    )
    result = invoke(["tools"], cli_env)
    assert result.returncode == 0, result.stderr
    rows = rows_of(result)
    assert [label for label in rows if label.startswith("files.")] == [
        f"files.{tool}" for tool in ALL_TOOLS
    ]
    assert rows["files.echo"] == [
        "files.echo",
        "mcp",
        "allowed",
        "MCP server files",
        "Say the text back.",
    ]
    assert rows["files.add"][2] == "asks"
    assert rows["files.crash"][2] == "denied"  # listed as denied, never offered
    assert rows["files"][2] == f"running, {len(ALL_TOOLS)} tools (1 denied)"
    assert rows["files"][1] == f"{sys.executable} {TOOLS_SERVER} stdio"
    assert stopped(pid_file)  # nothing left running once the command is done


def test_debug_traces_the_listing_on_stderr(cli_env: dict[str, str], home: Path) -> None:
    write_config(home, stdio_server("files"))
    result = invoke(["tools", "--debug", "files"], cli_env)
    assert result.returncode == 0, result.stderr
    said = result.stderr.splitlines()
    assert 'MCP files -> {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}' in said
    assert any(line.startswith('MCP files <- {"jsonrpc": "2.0", "id": 2') for line in said)
    assert "MCP files" not in result.stdout.decode().replace("MCP server files", "")


def test_a_real_process_on_a_pipe_leaves_no_server_behind(
    cli_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "files.pid"
    write_config(home, stdio_server("files", env={"MCP_TEST_PID_FILE": str(pid_file)}))
    result = run_cli(["tools", "files"], cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"files.echo\tmcp\tasks" in result.stdout and b"\x1b" not in result.stdout
    assert stopped(pid_file)


def test_a_server_that_crashes_at_start_is_failed_with_its_stderr_and_exit_1(
    cli_env: dict[str, str], home: Path
) -> None:
    write_config(
        home,
        stdio_server("broken", env={"MCP_TEST_CRASH_AT_START": "1"}) + stdio_server("files"),
    )
    result = invoke(["tools"], cli_env)
    assert result.returncode == 1
    rows = rows_of(result)
    assert "files.echo" in rows and rows["files"][2].startswith("running")  # the rest still listed
    state = rows["broken"][2]
    assert state.startswith("failed: MCP server broken") and "nowhere.db" in state
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and "broken" in errors[0] and "nowhere.db" in errors[0]


def test_several_failures_are_named_in_one_line_and_a_lone_config_one_exits_3(
    cli_env: dict[str, str], home: Path
) -> None:
    unset = (
        '[mcp.web]\nurl = "http://127.0.0.1:9/mcp"\nheaders = { X-Key = "${NOT_SET_ANYWHERE}" }\n\n'
    )
    write_config(home, stdio_server("broken", env={"MCP_TEST_CRASH_AT_START": "1"}) + unset)
    result = invoke(["tools"], cli_env)
    assert result.returncode == 1
    assert "2 MCP servers failed to start: broken, web" in result.stderr
    write_config(home, unset)
    result = invoke(["tools"], cli_env)
    assert result.returncode == 3 and "NOT_SET_ANYWHERE" in result.stderr
    assert rows_of(result)["web"][2].startswith("failed: [mcp.web] headers.X-Key")


def test_no_start_lists_the_servers_without_starting_them(
    cli_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "files.pid"
    write_config(home, stdio_server("files", env={"MCP_TEST_PID_FILE": str(pid_file)}))
    result = invoke(["tools", "--no-start"], cli_env)
    assert result.returncode == 0
    rows = rows_of(result)
    assert rows["files"][2] == "not started" and "files.echo" not in rows
    assert not pid_file.exists()


def test_names_pick_what_is_listed_and_only_those_servers_start(
    cli_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    a_pid, b_pid = tmp_path / "a.pid", tmp_path / "b.pid"
    write_config(
        home,
        stdio_server("a", env={"MCP_TEST_PID_FILE": str(a_pid)})
        + stdio_server("b", env={"MCP_TEST_PID_FILE": str(b_pid)}),
    )
    result = invoke(["tools", "a.add", "read_file"], cli_env)
    assert result.returncode == 0, result.stderr
    rows = rows_of(result)
    assert set(rows) == {"TOOL", "read_file", "a.add", "MCP SERVER", "a"}
    assert rows["a"][2] == f"running, {len(ALL_TOOLS)} tools"  # what it lists, all of it
    assert a_pid.exists() and not b_pid.exists()
    typo = invoke(["tools", "a.ad"], cli_env)
    assert typo.returncode == 2 and "did you mean a.add" in typo.stderr
    unknown = invoke(["tools", "nope"], cli_env)
    assert unknown.returncode == 2 and "no tool named 'nope'" in unknown.stderr


def test_json_lists_tools_and_servers_without_secrets(
    cli_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "files.pid"
    secret_env, secret_header = "env-secret-4242", "header-secret-7777"
    write_config(
        home,
        '[tools.stamp]\ndescription = "Date"\ncommand = ["date"]\n\n'
        + stdio_server(
            "files",
            'deny = ["crash"]',
            "trusted = true",
            env={"MCP_TEST_PID_FILE": str(pid_file), "SOME_TOKEN": secret_env},
        )
        + '[mcp.web]\nurl = "http://127.0.0.1:9/mcp?key=query-secret-1111#frag"\n'
        'headers = { Authorization = "Bearer ${WEB_TOKEN}" }\n',
    )
    env = {**cli_env, "WEB_TOKEN": secret_header}
    result = invoke(["tools", "--json"], env)
    assert result.returncode == 4  # web cannot be reached: the listing is still whole
    for secret in (secret_env, secret_header, "query-secret-1111", "frag"):
        assert secret not in result.stdout.decode() + result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"tools", "servers"}
    tools = {tool["name"]: tool for tool in doc["tools"]}
    assert tools["stamp"] == {
        "name": "stamp",
        "model_name": "stamp",
        "kind": "command",
        "server": None,
        "asks": True,
        "denied": False,
        "runs": "date",
        "description": "Date",
        "parameters": {"type": "object", "properties": {}},
    }
    add = tools["files.add"]
    assert add["model_name"] == "files__add" and add["server"] == "files" and add["kind"] == "mcp"
    assert add["asks"] is False  # a trusted server
    assert set(add["parameters"]["properties"]) == {"a", "b"}
    assert tools["files.crash"]["denied"] is True and tools["files.crash"]["model_name"] is None
    files, web = doc["servers"]
    assert files == {
        "name": "files",
        "transport": "stdio",
        "command": [sys.executable, TOOLS_SERVER, "stdio"],
        "state": "running",
        "error": None,
        "tools": len(ALL_TOOLS),
        "denied": 1,
        "trusted": True,
    }
    assert web["transport"] == "http" and web["url"] == "http://127.0.0.1:9/mcp"
    assert web["state"] == "failed" and "web" in web["error"] and web["tools"] is None
    assert "command" not in web and "headers" not in web
    assert stopped(pid_file)


ESCAPES = "\u001b]52;c;ZXZpbA==\u0007 evil\u001b[2J done"


@pytest.mark.parametrize("tty", [False, True])
def test_an_escape_sequence_in_a_server_description_is_made_safe(
    cli_env: dict[str, str], home: Path, tty: bool
) -> None:
    write_config(home, stdio_server("files", env={"MCP_TEST_ODD_DESCRIPTION": ESCAPES}))
    result = invoke(["tools", "files.odd"], cli_env, stdout_tty=tty)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "evil" in out and "\x07" not in out and "\x1b]52" not in out and "\x1b[2J" not in out
    if tty:
        assert "^[]52" in out  # shown, not obeyed
    else:
        assert "\x1b" not in out
        assert rows_of(result)["files.odd"][4] == " ]52;c;ZXZpbA==  evil [2J done"
    as_json = invoke(["tools", "files.odd", "--json"], cli_env)
    assert b"\x1b" not in as_json.stdout  # JSON escapes it; a jq -r reader decides
    assert json.loads(as_json.stdout)["tools"][0]["description"] == ESCAPES


def test_the_server_lines_show_a_url_without_its_query(cli_env: dict[str, str], home: Path) -> None:
    write_config(home, '[mcp.web]\nurl = "https://mcp.example.com:8443/mcp?api_key=k-1234"\n')
    result = invoke(["tools", "--no-start"], cli_env)
    assert rows_of(result)["web"][1] == "https://mcp.example.com:8443/mcp"
    assert "k-1234" not in result.stdout.decode()


def test_listing_tools_runs_no_api_key_command_unless_a_server_names_the_key(cli_env, home):
    marker = home / "asked-for-the-key"
    script = home / "fakepass.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('x'); print('sk-from-command')\n")
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    command = json.dumps(f"{sys.executable} {script}")
    (folder / "config.toml").write_text(f"api_key_command = {command}\n")
    env = {k: v for k, v in cli_env.items() if k != "AIML_API_KEY"}
    r = invoke(["tools"], env)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()  # a password manager's prompt, for a listing of tools: no


def test_a_very_long_tool_name_is_cut_on_a_terminal_and_whole_on_a_pipe(
    cli_env: dict[str, str], home: Path
) -> None:
    name = "x" * 64  # the most a tool name may be
    write_config(home, f'[tools.{name}]\ncommand = ["true"]\ndescription = "Does nothing."\n')
    on_screen = invoke(["tools", name], cli_env, stdout_tty=True)
    assert on_screen.returncode == 0, on_screen.stderr
    out = on_screen.stdout.decode()
    assert "x" * 31 + "…" in out and "x" * 33 not in out
    assert "Does nothing." in out  # not folded into a sliver of a column
    assert name in invoke(["tools", name], cli_env).stdout.decode()
