"""Tool calls: declared tools, assembling streamed calls, consent, and running them for real."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from select import select as readable
from typing import Any

import pytest

from aimlchat.api.adapters import ChatRequest, ToolSchema
from aimlchat.api.adapters.chat_completions import body, message_json
from aimlchat.chat.toolloop import ToolBox
from aimlchat.errors import ConfigError, Terminated, UsageError
from aimlchat.messages import ToolCall, assistant, tool_output
from aimlchat.tools import run as runner
from aimlchat.tools import turn
from aimlchat.tools.consent import Consent, FdAsk, describe, question
from aimlchat.tools.messages import calls_text, result_event, tool_message
from aimlchat.tools.protocol import RunContext, Tool
from aimlchat.tools.run import Status, ToolInterrupted, ToolResult
from aimlchat.tools.spec import BUILTINS, parse_tools
from aimlchat.tools.toolset import Toolset, local_tool

# -- helpers --------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text("import json, os, subprocess, sys, time\n" + body)
    return [sys.executable, str(path)]


def tools(**tables: dict[str, Any]) -> dict[str, Tool]:
    return {name: local_tool(spec) for name, spec in parse_tools(tables).items()}


BUILTIN_TOOLS = {name: local_tool(spec) for name, spec in BUILTINS.items()}


def toolset(**tables: dict[str, Any]) -> Toolset:
    commands = {n: s for n, s in parse_tools(tables).items() if n in tables}
    return Toolset(commands, {}, log_dir=Path("/nonexistent"), environ={}, warn=print)


def select(names: list[str], found: Toolset) -> list[Tool]:
    return found.pick(names)


def run_call(
    call: ToolCall,
    available: dict[str, Tool],
    *,
    cwd: Path,
    environ: dict[str, str] | None = None,
    cap: int = 64 * 1024,
) -> ToolResult:
    return runner.run_call(call, available, RunContext(cwd, environ, cap))


def run_calls(
    calls: list[ToolCall], available: dict[str, Tool], consent: Consent, *, cwd: Path, **kw: Any
) -> list[ToolResult]:
    return turn.run_calls(calls, available, consent, lambda: RunContext(cwd, None), **kw)


def call(name: str, args: Any = None, id: str = "call_a") -> ToolCall:
    text = args if isinstance(args, str) else json.dumps(args or {})
    return ToolCall(id, name, text)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody has reaped yet (PID 1 in a container may not) is dead too
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


def read_pid(path: Path, within: float = 5.0) -> int:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.01)
    raise AssertionError(f"{path} never written")


SPAWNS_GRANDCHILD = """
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


class Said:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text)


def scripted_ask(*answers: str) -> Callable[[str], str]:
    queue = list(answers)
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        if not queue:
            raise AssertionError(f"asked again: {question}")
        return queue.pop(0)

    ask.asked = asked  # type: ignore[attr-defined]
    return ask


# -- declared tools -------------------------------------------------------------------


def test_declared_tool_gets_defaults_and_builtins_come_without_config():
    table = {"description": "Weather", "command": ["weather-cli", "--json"]}
    found = parse_tools({"weather": table})
    weather = found["weather"]
    assert weather.command == ("weather-cli", "--json")
    assert weather.parameters == {"type": "object", "properties": {}}
    assert (weather.timeout, weather.confirm) == (30.0, True)
    assert {"read_file", "list_dir"} <= set(found)


def test_command_given_as_a_string_is_refused_naming_tool_and_key():
    with pytest.raises(ConfigError) as err:
        tools(weather={"command": "weather-cli --json"})
    assert "[tools.weather] command" in err.value.message
    assert "not a string" in err.value.message
    assert '["weather-cli", "--json"]' in (err.value.hint or "")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({}, "[tools.t] has no command"),
        ({"command": []}, "[tools.t] command must be a non-empty list"),
        ({"command": ["x", 1]}, "[tools.t] command must hold strings only"),
        ({"command": ["x"], "timeout": 0}, "[tools.t] timeout must be a positive number"),
        ({"command": ["x"], "timeout": True}, "[tools.t] timeout"),
        ({"command": ["x"], "confirm": "no"}, "[tools.t] confirm must be true or false"),
        ({"command": ["x"], "description": 3}, "[tools.t] description must be a string"),
        ({"command": ["x"], "parameters": {"type": "string"}}, 'must have type = "object"'),
        ({"command": ["x"], "parameters": {"required": ["city"]}}, "names 'city'"),
        ({"command": ["x"], "comand": ["x"]}, "[tools.t] has an unknown key 'comand'"),
    ],
)
def test_broken_tool_tables_name_the_tool_and_key(table: dict[str, Any], says: str):
    with pytest.raises(ConfigError) as err:
        tools(t=table)
    assert says in err.value.message


def test_tool_name_the_api_would_refuse_is_a_config_error():
    with pytest.raises(ConfigError, match="letters, digits"):
        tools(**{"my tool": {"command": ["x"]}})


def test_builtin_table_may_only_turn_its_prompt_off():
    assert tools(read_file={"confirm": False})["read_file"].asks is False
    with pytest.raises(ConfigError, match=r"\[tools.read_file\] has an unknown key 'command'"):
        tools(read_file={"command": ["cat"]})


def test_offered_tools_become_schemas_with_name_description_and_parameters():
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    found = toolset(weather={"description": "Weather", "command": ["w"], "parameters": params})
    consent = Consent(ask=None, warn=lambda text: None, assume_yes=True)
    box = ToolBox(found, select(["weather"], found), consent)
    assert box.schemas() == (ToolSchema("weather", "Weather", params),)
    assert body(ChatRequest("m", (), tools=box.schemas()))["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Weather", "parameters": params},
        }
    ]


def test_all_offers_every_declared_tool_and_the_builtins_once():
    found = toolset(weather={"command": ["w"]}, stocks={"command": ["s"]})
    names = [tool.name for tool in select(["weather", "all"], found)]
    assert names[0] == "weather"
    assert sorted(names) == sorted(["weather", "stocks", *BUILTINS])


def test_unknown_tool_name_is_a_usage_error_with_close_matches():
    with pytest.raises(UsageError) as err:
        select(["wether"], toolset(weather={"command": ["w"]}))
    assert err.value.message == "no tool named 'wether'"
    assert "weather" in (err.value.hint or "")


# -- checking calls -------------------------------------------------------------------
# (Assembling them from streamed pieces goes through Response: test_review_fixes_api.)


@pytest.mark.parametrize(
    ("text", "says"),
    [('{"city": "Par', "not valid JSON"), ("[1, 2]", "must be a JSON object, not list")],
)
def test_invalid_arguments_become_an_error_result_not_a_crash(tmp_path: Path, text: str, says: str):
    marker = tmp_path / "ran"
    found = tools(t={"command": script(tmp_path, "t", f"open({str(marker)!r}, 'w')")})
    result = run_call(call("t", text), found, cwd=tmp_path)
    assert result.status is Status.ERROR
    assert says in result.content
    assert text in result.content  # the model sees what it sent
    assert not marker.exists()


def test_unknown_tool_name_from_the_model_is_an_error_result(tmp_path: Path):
    result = run_call(call("rm_rf", {}), tools(), cwd=tmp_path)
    assert result.status is Status.ERROR
    assert "there is no tool named 'rm_rf'" in result.content
    assert "list_dir, read_file" in result.content


# -- running commands -----------------------------------------------------------------


def test_arguments_arrive_on_stdin_and_never_in_argv(tmp_path: Path):
    argv = script(
        tmp_path, "echo", "print(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}))"
    )
    found = tools(echo={"command": [*argv, "--fixed"]})
    evil = {"city": "Paris; rm -rf ~ $(reboot)", "flag": "--fixed"}
    result = run_call(call("echo", evil), found, cwd=tmp_path)
    assert result.status is Status.OK
    seen = json.loads(result.content)
    assert seen["argv"] == ["--fixed"]
    assert json.loads(seen["stdin"]) == evil


def test_tool_runs_in_the_current_directory_without_the_api_key(tmp_path: Path):
    argv = script(tmp_path, "env", "print(os.getcwd()); print(os.environ.get('AIML_API_KEY'))")
    environ = {**os.environ, "AIML_API_KEY": "sk-secret"}
    result = run_call(call("env"), tools(env={"command": argv}), cwd=tmp_path, environ=environ)
    assert result.content.split("\n")[:2] == [str(tmp_path), "None"]


def test_failing_tool_reports_its_status_and_the_tail_of_stderr(tmp_path: Path):
    body = "sys.stderr.write('noise\\n' * 2000 + 'city not found: Atlantis\\n'); sys.exit(3)"
    found = tools(weather={"command": script(tmp_path, "fail", body)})
    result = run_call(call("weather", {"city": "Atlantis"}), found, cwd=tmp_path)
    assert result.status is Status.FAILED
    assert result.content.startswith("error: weather exited with status 3\nstderr (last 2 KB):\n")
    assert result.content.endswith("city not found: Atlantis")
    assert len(result.content) < 2 * 1024 + 100


def test_a_secret_the_stderr_tail_cuts_into_goes_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from aimlchat.errors import redact

    monkeypatch.setattr(redact, "_secrets", set())  # this test's secrets only
    redact.add("ghp_A1b2C3d4E5f6G7h8I9j0")
    # The last 2 KB of stderr begin 6 characters into the token.
    body = "sys.stderr.write('token=ghp_A1b2C3d4E5f6G7h8I9j0' + 'x' * 2030); sys.exit(1)"
    found = tools(t={"command": script(tmp_path, "leak", body)})
    result = run_call(call("t"), found, cwd=tmp_path)
    assert "stderr (last 2 KB):\n***xxx" in result.content, result.content[:120]
    assert "G7h8I9j0" not in result.content


def test_tool_killed_by_a_signal_says_so(tmp_path: Path):
    found = tools(t={"command": script(tmp_path, "segv", "os.kill(os.getpid(), 9)")})
    result = run_call(call("t"), found, cwd=tmp_path)
    assert (result.status, result.content) == (Status.FAILED, "error: t was killed by SIGKILL")


NOTES_SIGTERM = """
import signal

def noted(signum, frame):
    open(sys.argv[2], "w").write(f"{os.getpid()} SIGTERM")
    sys.exit(0)

signal.signal(signal.SIGTERM, noted)
"""


def test_timeout_stops_the_whole_process_group(tmp_path: Path):
    pidfile, note = tmp_path / "grandchild.pid", tmp_path / "stopped"
    body = NOTES_SIGTERM + SPAWNS_GRANDCHILD  # then sleeps 60 s
    argv = [*script(tmp_path, "slow", body), str(pidfile), str(note)]
    found = tools(slow={"command": argv, "timeout": 1})
    result = run_call(call("slow"), found, cwd=tmp_path)
    assert result.status is Status.TIMED_OUT
    assert result.content.startswith("error: slow timed out after 1 s and was stopped")
    # Stopped rather than waited for: asked with SIGTERM first, and reaped by the time
    # run_call returns; its grandchild, signalled with the group, goes too.
    pid, how = note.read_text().split()
    assert how == "SIGTERM" and gone(int(pid))
    assert wait_gone(read_pid(pidfile))


def test_one_megabyte_of_output_is_cut_at_64_kb_with_a_note(tmp_path: Path):
    body = "sys.stdout.write('x' * (1024 * 1024)); sys.stderr.write('e' * (1024 * 1024))"
    found = tools(big={"command": script(tmp_path, "big", body)})
    tracemalloc.start()
    try:
        result = run_call(call("big"), found, cwd=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status is Status.OK
    assert result.content == "x" * 65536 + "\n[output cut at 64 KB of 1.0 MB]"
    assert peak < 1024 * 1024  # 2 MB went through; far less was ever held


def test_large_arguments_to_a_tool_that_never_reads_stdin_do_not_hang(tmp_path: Path):
    found = tools(deaf={"command": script(tmp_path, "deaf", "print('done')"), "timeout": 5})
    result = run_call(call("deaf", {"blob": "y" * 1024 * 1024}), found, cwd=tmp_path)
    assert (result.status, result.content) == (Status.OK, "done\n")


# Holds the tool's stdout until the test releases it (or a minute has passed).
WAITS_FOR_RELEASE = (
    "import os, sys, time\n"
    "end = time.monotonic() + 60\n"
    "while not os.path.exists(sys.argv[1]) and time.monotonic() < end: time.sleep(0.02)\n"
)


def test_a_child_left_holding_the_output_does_not_hold_up_the_result(tmp_path: Path):
    pidfile, release = tmp_path / "left.pid", tmp_path / "release"
    body = (
        "child = subprocess.Popen([sys.executable, '-c', sys.argv[3], sys.argv[2]])\n"
        "open(sys.argv[1], 'w').write(str(child.pid)); print('started')\n"
    )
    argv = [*script(tmp_path, "bg", body), str(pidfile), str(release), WAITS_FOR_RELEASE]
    found = tools(bg={"command": argv, "timeout": 120})
    result = run_call(call("bg"), found, cwd=tmp_path)
    pid = read_pid(pidfile)
    try:
        # The child ends only once released, and that comes after run_call returned: a
        # result that waited for the child's hold on stdout could not be OK (it would have
        # waited out the child's minute, or the timeout) with the child still there.
        assert (result.status, result.content) == (Status.OK, "started\n")
        assert not gone(pid)  # what a tool starts on purpose (a viewer, say) keeps running
        release.touch()
        assert wait_gone(pid)  # still waiting for its release, not stopped with the tool
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_missing_program_is_an_error_result(tmp_path: Path):
    found = tools(ghost={"command": [str(tmp_path / "no-such-program")]})
    result = run_call(call("ghost"), found, cwd=tmp_path)
    assert result.status is Status.ERROR
    assert "cannot start ghost" in result.content and "command not found" in result.content


def test_ctrl_c_while_a_tool_runs_kills_its_group_and_records_interrupted(tmp_path: Path):
    pidfile, note = tmp_path / "grandchild.pid", tmp_path / "stopped"
    body = NOTES_SIGTERM + SPAWNS_GRANDCHILD  # then sleeps 60 s
    argv = [*script(tmp_path, "slow", body), str(pidfile), str(note)]
    found = tools(slow={"command": argv})

    def interrupt_when_running() -> None:
        read_pid(pidfile)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=interrupt_when_running)
    timer.start()
    with pytest.raises(ToolInterrupted) as exc:
        run_calls(
            [call("slow", id="a"), call("slow", id="b")],
            found,
            Consent(ask=None, warn=Said(), assume_yes=True),
            cwd=tmp_path,
        )
    timer.join()
    # Stopped rather than waited out (it sleeps a minute): asked with SIGTERM and reaped
    # by the time run_calls raises; the second call never started.
    pid, how = note.read_text().split()
    assert how == "SIGTERM" and gone(int(pid))
    assert isinstance(exc.value, KeyboardInterrupt)  # the REPL's Ctrl-C path handles it
    assert [(r.call.id, r.status) for r in exc.value.results] == [
        ("a", Status.INTERRUPTED),
        ("b", Status.INTERRUPTED),
    ]
    assert "slow was stopped before it finished" in exc.value.results[0].content
    assert "slow was not run" in exc.value.results[1].content
    assert wait_gone(read_pid(pidfile))


def test_sigterm_while_a_tool_runs_stops_its_group_before_propagating(tmp_path: Path):
    pidfile = tmp_path / "grandchild.pid"
    argv = [*script(tmp_path, "slow", SPAWNS_GRANDCHILD), str(pidfile)]

    def terminated(signum: int, frame: object) -> None:
        raise Terminated  # what the CLI's handler raises

    def term_when_running() -> None:
        read_pid(pidfile)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        thread = threading.Thread(target=term_when_running)
        thread.start()
        with pytest.raises(Terminated):
            run_call(call("slow"), tools(slow={"command": argv}), cwd=tmp_path)
        thread.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert wait_gone(read_pid(pidfile))


# -- consent --------------------------------------------------------------------------


def marker_tool(tmp_path: Path, **extra: Any) -> tuple[dict[str, Any], Path]:
    marker = tmp_path / "ran"
    body = f"open({str(marker)!r}, 'a').write('x'); print('sunny')"
    return tools(weather={"command": script(tmp_path, "w", body), **extra}), marker


def test_with_no_terminal_and_no_yes_the_call_is_declined_and_stderr_says_how(tmp_path: Path):
    found, marker = marker_tool(tmp_path)
    warned, shown = Said(), Said()
    consent = Consent(ask=None, warn=warned, show=shown)
    (result,) = run_calls([call("weather", {"city": "Paris"})], found, consent, cwd=tmp_path)
    assert result.status is Status.DECLINED
    assert "weather was not run" in result.content
    assert not marker.exists()
    assert shown.lines == ['→ weather {"city": "Paris"}']
    assert len(warned.lines) == 1
    assert "weather" in warned.lines[0]
    assert "pass --yes or set confirm = false in [tools.weather]" in warned.lines[0]


def test_always_is_remembered_for_the_session(tmp_path: Path):
    found, marker = marker_tool(tmp_path)
    ask = scripted_ask("a\n")
    consent = Consent(ask=ask, warn=Said())
    calls = [call("weather", id="1"), call("weather", id="2")]
    results = run_calls(calls, found, consent, cwd=tmp_path)
    assert [r.status for r in results] == [Status.OK, Status.OK]
    assert ask.asked == [question(calls[0])]  # type: ignore[attr-defined]
    assert marker.read_text() == "xx"
    run_calls([call("weather", id="3")], found, consent, cwd=tmp_path)  # still not asked
    assert marker.read_text() == "xxx"


@pytest.mark.parametrize(
    ("answer", "runs"), [("y", True), ("YES\n", True), ("", False), ("n", False)]
)
def test_yes_runs_once_and_anything_else_declines(tmp_path: Path, answer: str, runs: bool):
    found, marker = marker_tool(tmp_path)
    consent = Consent(ask=scripted_ask(answer), warn=Said())
    (result,) = run_calls([call("weather")], found, consent, cwd=tmp_path)
    assert marker.exists() is runs
    assert result.status is (Status.OK if runs else Status.DECLINED)
    assert consent.always == set()


def test_confirm_false_and_yes_skip_the_question(tmp_path: Path):
    found, marker = marker_tool(tmp_path, confirm=False)
    run_calls([call("weather")], found, Consent(ask=scripted_ask(), warn=Said()), cwd=tmp_path)
    found, _ = marker_tool(tmp_path)
    consent = Consent(ask=scripted_ask(), warn=Said(), assume_yes=True)
    run_calls([call("weather")], found, consent, cwd=tmp_path)
    assert marker.read_text() == "xx"


def test_calls_the_model_got_wrong_are_not_asked_about(tmp_path: Path):
    found, _ = marker_tool(tmp_path)
    consent = Consent(ask=scripted_ask(), warn=Said())
    results = run_calls([call("weather", "{oops"), call("nope")], found, consent, cwd=tmp_path)
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR]


def test_ctrl_c_at_the_question_records_every_call_as_not_run(tmp_path: Path):
    found, marker = marker_tool(tmp_path)

    def ask(question: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(ToolInterrupted) as exc:
        run_calls(
            [call("weather", id="1"), call("weather", id="2")],
            found,
            Consent(ask=ask, warn=Said()),
            cwd=tmp_path,
        )
    assert [r.status for r in exc.value.results] == [Status.INTERRUPTED] * 2
    assert not marker.exists()


def test_shown_call_is_safe_for_a_terminal_and_one_line():
    shown = describe(ToolCall("x", "we\x1bather", '{"city": "\\u001b]52;c;AAAA\\u0007\\nParis"}'))
    assert "\x1b" not in shown and "\x07" not in shown and "\n" not in shown
    assert shown.startswith("→ we^[ather {")
    assert len(describe(ToolCall("x", "t", json.dumps({"a": "b" * 5000})))) < 320


def test_fd_ask_reads_one_line_per_question_from_a_terminal():
    primary, secondary = os.openpty()

    def typist() -> None:  # each answer typed once its question is on the screen
        shown = b""
        for n, answer in enumerate((b"a\n", b"y\n"), start=1):
            while shown.count(b"run weather? ") < n and readable([primary], [], [], 5)[0]:
                shown += os.read(primary, 4096)
            os.write(primary, answer)

    try:
        ask = FdAsk(secondary, secondary)
        typing = threading.Thread(target=typist)
        typing.start()
        assert ask("run weather? ") == "a\n"
        assert ask("run weather? ") == "y\n"
        typing.join(10)
    finally:
        os.close(primary)
        os.close(secondary)


def test_fd_ask_drops_what_was_typed_before_the_question():
    primary, secondary = os.openpty()
    try:
        os.write(primary, b"y\n")  # typed while the reply streamed
        assert readable([secondary], [], [], 5)[0]  # queued on the terminal
        answered: list[str] = []
        asking = threading.Thread(
            target=lambda: answered.append(FdAsk(secondary, secondary)("run? "))
        )
        asking.start()
        shown = b""
        while b"run? " not in shown and readable([primary], [], [], 5)[0]:
            shown += os.read(primary, 4096)
        os.write(primary, b"n\n")
        asking.join(10)
        assert answered == ["n\n"]
    finally:
        os.close(primary)
        os.close(secondary)


def test_fd_ask_at_end_of_input_declines(tmp_path: Path):
    found, marker = marker_tool(tmp_path)
    read_end, write_end = os.pipe()
    os.close(write_end)
    out = os.open(os.devnull, os.O_WRONLY)
    try:
        consent = Consent(ask=FdAsk(read_end, out), warn=Said())
        (result,) = run_calls([call("weather")], found, consent, cwd=tmp_path)
    finally:
        os.close(read_end)
        os.close(out)
    assert result.status is Status.DECLINED
    assert not marker.exists()


# -- built-ins ------------------------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("print('hi')\n")
    (root / "notes.md").write_text("# notes\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return root


def builtin(name: str, args: dict[str, Any], root: Path) -> ToolResult:
    return run_call(call(name, args), BUILTIN_TOOLS, cwd=root, cap=256 * 1024)


def test_read_file_reads_text_under_the_current_directory(work: Path):
    result = builtin("read_file", {"path": "src/a.py"}, work)
    assert (result.status, result.content) == (Status.OK, "print('hi')\n")
    assert builtin("read_file", {"path": str(work / "notes.md")}, work).content == "# notes\n"


def test_a_mistyped_tool_name_gets_did_you_mean_worded_as_everywhere_else():
    from aimlchat.tools.toolset import no_such_tool

    found = toolset(weather={"command": ["w"]}, weathers={"command": ["w"]})
    assert found.unknown("wether").hint == "did you mean weather or weathers?"
    many = no_such_tool("srv", "ad", ["add", "adds", "addx"]).hint or ""
    assert re.fullmatch(r"did you mean srv\.add\w?, srv\.add\w? or srv\.add\w\?", many), many
    # The tool's part alone is compared: `srv.` in common makes nothing close.
    far = no_such_tool("srv", "q", ["echo", "add", "fail", "crash"]).hint
    assert far == "its tools: srv.echo, srv.add, srv.fail, srv.crash"


def test_a_known_secret_in_a_tools_output_reaches_the_model_as_stars(
    work: Path, monkeypatch: pytest.MonkeyPatch
):
    from aimlchat.errors import redact

    monkeypatch.setattr(redact, "_secrets", set())  # this test's secrets only
    redact.add("sk-aiml-0123456789")
    (work / ".env").write_text("AIML_API_KEY=sk-aiml-0123456789\n")
    result = builtin("read_file", {"path": ".env"}, work)
    assert (result.status, result.content) == (Status.OK, "AIML_API_KEY=***\n")
    # A cap that cuts the key in two leaves none of it either.
    cut = run_call(call("read_file", {"path": ".env"}), BUILTIN_TOOLS, cwd=work, cap=20)
    assert cut.content == "AIML_API_KEY=***\n[file cut at 20 bytes of 32 bytes]"


@pytest.mark.parametrize(
    "path", ["../secret.txt", "src/../../secret.txt", "SECRET_ABS", "/etc/passwd"]
)
def test_read_file_refuses_paths_outside_the_current_directory(work: Path, path: str):
    path = str(work.parent / "secret.txt") if path == "SECRET_ABS" else path
    result = builtin("read_file", {"path": path}, work)
    assert result.status is Status.ERROR
    assert "outside the current directory" in result.content
    assert "outside\n" not in result.content


def test_read_file_refuses_a_symlink_pointing_outside(work: Path):
    (work / "link.txt").symlink_to(work.parent / "secret.txt")
    (work / "up").symlink_to(work.parent)
    for path in ("link.txt", "up/secret.txt"):
        result = builtin("read_file", {"path": path}, work)
        assert result.status is Status.ERROR
        assert "outside the current directory" in result.content
    (work / "inside").symlink_to(work / "notes.md")
    assert builtin("read_file", {"path": "inside"}, work).content == "# notes\n"


def test_read_file_refuses_binary_and_cuts_large_files(work: Path):
    (work / "bin").write_bytes(b"\x7fELF\x00\x01")
    assert "binary file" in builtin("read_file", {"path": "bin"}, work).content
    (work / "big.txt").write_text("é" * (300 * 1024))  # 600 KB, cut mid-character
    result = builtin("read_file", {"path": "big.txt"}, work)
    assert result.status is Status.OK
    assert result.content.endswith("\n[file cut at 256 KB of 600 KB]")
    assert "'path' must be a non-empty string" in builtin("read_file", {}, work).content


def test_read_file_says_what_is_missing_or_a_directory(work: Path):
    assert "no such file" in builtin("read_file", {"path": "nope.txt"}, work).content
    assert "list_dir" in builtin("read_file", {"path": "src"}, work).content


def test_list_dir_lists_entries_and_refuses_outside(work: Path):
    (work / "link").symlink_to(work.parent)
    result = builtin("list_dir", {}, work)
    assert (result.status, result.content) == (Status.OK, "link@\nnotes.md\nsrc/")
    assert builtin("list_dir", {"path": "src"}, work).content == "a.py"
    assert "outside the current directory" in builtin("list_dir", {"path": "link"}, work).content
    assert "outside the current directory" in builtin("list_dir", {"path": ".."}, work).content


# -- history messages -----------------------------------------------------------------


def test_history_messages_have_the_shape_the_api_accepts():
    good, bad = ToolCall("c1", "weather", '{"city":"Paris"}'), ToolCall("c2", "weather", "{oops")
    assert message_json(assistant("", calls=[good, bad])) == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            },
            # not JSON: some servers would refuse every later request carrying it
            {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
        ],
    }
    assert message_json(assistant("Let me look.", calls=[good]))["content"] == "Let me look."
    result = ToolResult(good, Status.OK, "sunny", 0.5)
    assert tool_message(result) == tool_output("c1", "sunny")
    assert message_json(tool_message(result)) == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "sunny",
    }
    assert result_event(result)["type"] == "tool_result"
    assert calls_text([good, bad]) == '→ weather {"city":"Paris"}\n→ weather {oops\n'


def test_a_tools_output_cap_follows_the_room_the_window_has_left():
    from aimlchat.tools.protocol import MAX_CAP, MIN_CAP, UNKNOWN_WINDOW_CAP, output_cap_for

    assert output_cap_for(None) == UNKNOWN_WINDOW_CAP  # only bound when the fit cannot cut
    assert output_cap_for(10_000) == 60_000  # a few bytes per token: the fit cuts exactly
    assert output_cap_for(0) == MIN_CAP  # a full window still reads an error's first lines
    assert output_cap_for(10**9) == MAX_CAP
