"""Tool calls wired end to end: `-T` offers, the loop runs calls with consent, results go
back, history keeps a context the API accepts. Against the loopback server."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.loopback import Reply, sse_reply
from tests.loopback_tools import text_reply, tool_reply

PY = sys.executable
WEATHER = textwrap.dedent(
    """
    import json, sys
    args = json.load(sys.stdin)
    print(f"sunny in {args['city']}")
    """
)


def toml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def declare(home: Path, **tools: dict[str, Any]) -> None:
    """Write [tools.NAME] tables: each a `code` run by this Python, plus extra keys."""
    lines = []
    for name, table in tools.items():
        lines.append(f"[tools.{name}]")
        code = table.pop("code")
        lines.append(f"command = [{toml_str(PY)}, {toml_str('-c')}, {toml_str(code)}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text("\n".join(lines) + "\n")


CITY = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.fixture
def weather(home: Path) -> None:
    declare(home, weather={"code": WEATHER, "description": "Current weather"})


def messages_valid(messages: list[dict[str, Any]]) -> None:
    """What the API accepts: every assistant tool call answered by a tool message carrying
    its id, right after it; no null content; no stray keys."""
    allowed = {"role", "content", "name", "tool_calls", "tool_call_id"}
    waiting: list[str] = []
    for m in messages:
        assert set(m) <= allowed, m
        assert m.get("content", "") is not None, m
        if m["role"] == "tool":
            assert m["tool_call_id"] == waiting.pop(0), m
            assert isinstance(m["content"], str)
            continue
        assert not waiting, f"calls {waiting} unanswered before {m}"
        if m["role"] == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                json.loads(call["function"]["arguments"])  # servers parse every past call
                waiting.append(call["id"])
        elif m["role"] == "assistant":
            assert "content" in m
    assert not waiting


def test_arguments_streamed_one_character_per_chunk_run_the_tool(cli_env, server, weather):
    server.push(tool_reply(("call_w", "weather", '{"city": "Paris"}')), text_reply("Sunny."))
    r = invoke(["ask", "-T", "weather", "--yes", "weather?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Sunny.\n"  # the pipe carries the model's text only
    first, second = server.chat_bodies()
    assert [t["function"]["name"] for t in first["tools"]] == ["weather"]
    assert first["tools"][0]["function"]["description"] == "Current weather"
    call, result = second["messages"][1:]
    assert call["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city": "Paris"}',
    }
    assert "content" not in call  # no text beside the call: left out, never null
    assert result == {"role": "tool", "tool_call_id": "call_w", "content": "sunny in Paris\n"}
    assert '→ weather {"city": "Paris"}' in r.stderr
    messages_valid(second["messages"])


def test_two_calls_in_one_turn_get_results_in_order(cli_env, server, weather):
    server.push(
        tool_reply(
            ("a", "weather", '{"city": "Oslo"}'),
            ("b", "weather", '{"city": "Rome"}'),
            text="Checking both.",
        ),
        text_reply("Oslo is sunny, and so is Rome."),
    )
    r = invoke(["ask", "-T", "weather", "--yes", "compare"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Checking both.\nOslo is sunny, and so is Rome.\n"
    messages = server.chat_bodies()[1]["messages"]
    assert messages[1]["content"] == "Checking both."
    assert [m["content"] for m in messages[2:]] == ["sunny in Oslo\n", "sunny in Rome\n"]
    assert [m["tool_call_id"] for m in messages[2:]] == ["a", "b"]
    messages_valid(messages)


def tool_result(server: Any, position: int = -1) -> str:
    content: str = server.chat_bodies()[1]["messages"][position]["content"]
    return content


def test_a_failing_tool_returns_its_status_and_stderr_tail(cli_env, server, home):
    code = "import sys; print('half'); sys.stderr.write('boom: no such city\\n'); sys.exit(3)"
    declare(home, weather={"code": code})
    server.push(tool_reply(("c", "weather", "{}")), text_reply("It failed."))
    r = invoke(["ask", "-T", "weather", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    result = tool_result(server)
    assert result.startswith("error: weather exited with status 3")
    assert "half" in result and "boom: no such city" in result
    assert "← weather: weather exited with status 3" in r.stderr


def test_a_tool_past_its_timeout_is_stopped(cli_env, server, home):
    declare(home, slow={"code": "import time; time.sleep(30)", "timeout": 0.5})
    server.push(tool_reply(("c", "slow", "{}")), text_reply("Too slow."))
    r = invoke(["ask", "-T", "slow", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    assert tool_result(server).startswith("error: slow timed out after 0.5 s and was stopped")


def test_a_tool_printing_a_megabyte_with_the_window_unknown_is_cut_at_256_kb(cli_env, server, home):
    declare(home, big={"code": "import sys; sys.stdout.write('x' * (1024 * 1024))"})
    server.push(tool_reply(("c", "big", "{}")), text_reply("Big."))
    r = invoke(["ask", "-T", "big", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    result = tool_result(server)
    assert result.startswith("x" * 262144) and result.count("x") == 262144
    assert result.endswith("[output cut at 256 KB of 1.0 MB]")
    assert "(output cut at 256 KB of 1.0 MB)" in r.stderr  # the user hears what the model sees


def test_with_no_terminal_and_no_yes_the_call_is_declined(cli_env, server, weather):
    server.push(tool_reply(("c", "weather", '{"city": "Paris"}')), text_reply("Fine."))
    r = invoke(["ask", "-T", "weather", "weather?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert tool_result(server).startswith("declined: weather was not run")
    assert "tool weather not run: no terminal to ask for consent" in r.stderr
    assert "pass --yes or set confirm = false in [tools.weather]" in r.stderr


def test_confirm_false_runs_without_asking(cli_env, server, home):
    declare(home, weather={"code": WEATHER, "confirm": False})
    server.push(tool_reply(("c", "weather", '{"city": "Lima"}')), text_reply("ok"))
    assert invoke(["ask", "-T", "all", "go"], cli_env).returncode == 0
    assert tool_result(server) == "sunny in Lima\n"
    names = {t["function"]["name"] for t in server.chat_bodies()[0]["tools"]}
    assert names == {"weather", "read_file", "list_dir"}  # -T all


def test_bad_json_and_unknown_or_unoffered_tools_become_error_results(cli_env, server, weather):
    server.push(
        tool_reply(("a", "weather", '{"city": "Par'), ("b", "list_dir", "{}"), ("c", "nope", "")),
        text_reply("Sorry."),
    )
    r = invoke(["ask", "-T", "weather", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    messages = server.chat_bodies()[1]["messages"]
    bad, unoffered, unknown = (m["content"] for m in messages[2:])
    assert bad.startswith("error: the arguments are not valid JSON")
    assert 'Sent: {"city": "Par' in bad
    assert unoffered.startswith("error: there is no tool named 'list_dir'; the tools are: weather")
    assert unknown.startswith("error: there is no tool named 'nope'")
    # History keeps arguments a server can parse back; the result says what was sent.
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    messages_valid(messages)


def test_a_tool_name_that_is_not_declared_is_a_usage_error(cli_env, server, weather):
    r = invoke(["ask", "-T", "wether", "hi"], cli_env)
    assert r.returncode == 2
    assert "no tool named 'wether'" in r.stderr and "did you mean weather?" in r.stderr
    assert server.chat_bodies() == []


def test_without_T_no_tools_are_sent(cli_env, server, weather):
    assert invoke(["ask", "hi"], cli_env).returncode == 0
    assert "tools" not in server.chat_bodies()[0]


def test_step_limit_exits_1_and_everything_so_far_is_saved(cli_env, server, weather, home):
    again = [tool_reply((f"c{i}", "weather", '{"city": "Oslo"}')) for i in range(3)]
    server.push(*again)
    r = invoke(["ask", "-T", "weather", "--yes", "--max-steps", "2", "loop"], cli_env)
    assert r.returncode == 1
    assert "stopped after 2 tool steps; the model still asked for weather" in r.stderr
    assert len(server.chat_bodies()) == 3
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    roles = [row[0] for row in db.execute("SELECT role FROM messages ORDER BY id")]
    assert roles == ["user"] + ["assistant", "tool"] * 3
    last = db.execute("SELECT content FROM messages ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "the limit of 2 tool steps" in json.loads(last)
    # What was saved is a context the API accepts.
    assert invoke(["ask", "--continue", "summarise"], cli_env).returncode == 0
    messages_valid(server.chat_bodies()[-1]["messages"])


def test_continue_after_tool_use_sends_a_valid_context(cli_env, server, weather):
    server.push(tool_reply(("call_1", "weather", '{"city": "Paris"}')), text_reply("Sunny."))
    assert invoke(["ask", "-T", "weather", "--yes", "weather?"], cli_env).returncode == 0
    r = invoke(["ask", "--continue", "and tomorrow?"], cli_env)
    assert r.returncode == 0, r.stderr
    messages = server.chat_bodies()[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert messages[2]["tool_call_id"] == "call_1"
    messages_valid(messages)


def test_ndjson_reports_tool_calls_and_results(cli_env, server, weather):
    server.push(tool_reply(("c", "weather", '{"city": "Paris"}')), text_reply("Sunny."))
    r = invoke(["ask", "-T", "weather", "--yes", "--ndjson", "weather?"], cli_env)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    call = next(e for e in events if e["type"] == "tool_call")
    result = next(e for e in events if e["type"] == "tool_result")
    assert call == {
        "type": "tool_call",
        "id": "c",
        "name": "weather",
        "label": "weather",
        "arguments": '{"city": "Paris"}',
    }
    assert result["status"] == "ok" and result["content"] == "sunny in Paris\n"
    kinds = [e["type"] for e in events]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("delta")


def test_history_shows_and_exports_the_tool_round(cli_env, server, weather):
    server.push(tool_reply(("c", "weather", '{"city": "Paris"}')), text_reply("Sunny."))
    assert invoke(["ask", "-T", "weather", "--yes", "weather?"], cli_env).returncode == 0
    shown = invoke(["history", "show"], cli_env)
    assert shown.returncode == 0, shown.stderr
    assert '→ weather {"city": "Paris"}' in shown.stdout.decode()
    assert "sunny in Paris" in shown.stdout.decode()
    exported = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    call, result = exported["messages"][1:3]
    assert [p["name"] for p in call["parts"] if p["type"] == "tool_call"] == ["weather"]
    assert [p["call_id"] for p in result["parts"] if p["type"] == "tool_output"] == ["c"]


def test_a_plain_reply_still_works_with_tools_offered(cli_env, server, weather):
    server.push(Reply(events=sse_reply(["No ", "tools ", "needed."])))
    r = invoke(["ask", "-T", "weather", "hi"], cli_env)
    assert r.returncode == 0 and r.stdout == b"No tools needed.\n"
    assert len(server.chat_bodies()) == 1


# -- the REPL: /tools, /retry and /undo after tool use (its logic, in-process) ---------------


def open_repl(cli_env: dict[str, str], **flags: Any) -> tuple[Any, Any]:
    import io

    from aimlchat.commands.runtime import App
    from aimlchat.commands.slash import Repl
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    stderr = io.StringIO()
    env = Environment(io.StringIO(), io.StringIO(), stderr, environ=cli_env)
    app = App(Flags(**flags), env)
    written: list[str] = []
    repl = Repl(app, app.open_chat(stream=True), written.append)
    return repl, lambda: "".join(written) + stderr.getvalue()


def test_slash_tools_lists_and_toggles_what_is_offered(cli_env, server, weather):
    repl, shown = open_repl(cli_env)
    repl.handle("/tools")
    listing = shown()
    assert "[off] weather" in listing and "[off] read_file" in listing
    repl.handle("/tools weather read_file")
    assert "tools offered: weather, read_file" in shown()
    repl.handle("hi")
    names = [t["function"]["name"] for t in server.chat_bodies()[-1]["tools"]]
    assert names == ["weather", "read_file"]
    repl.handle("/tools weather")  # off again
    repl.handle("/tools wether")  # a typo changes nothing
    assert "no tool named 'wether'" in shown()
    repl.handle("hi")
    assert [t["function"]["name"] for t in server.chat_bodies()[-1]["tools"]] == ["read_file"]
    repl.handle("/tools none")
    repl.handle("hi")
    assert "tools" not in server.chat_bodies()[-1]


def test_retry_after_tool_use_regenerates_the_whole_turn(cli_env, server, weather):
    repl, shown = open_repl(cli_env, tools=["weather"], yes=True)
    server.push(tool_reply(("c1", "weather", '{"city": "Oslo"}')), text_reply("Sunny."))
    repl.handle("weather?")
    server.push(tool_reply(("c2", "weather", '{"city": "Oslo"}')), text_reply("Still sunny."))
    repl.handle("/retry")
    bodies = server.chat_bodies()
    assert len(bodies) == 4
    assert [m["role"] for m in bodies[2]["messages"]] == ["user"]  # the turn, from its message
    messages_valid(bodies[3]["messages"])
    assert [m.role for m in repl.chat.messages] == ["user", "assistant", "tool", "assistant"]
    repl.handle("/history")  # a reply that is only a call has no content: shown, no crash
    assert '── assistant\n\n→ weather {"city": "Oslo"}\n\n── tool\nsunny in Oslo' in shown()
    repl.handle("/undo")
    assert repl.chat.messages == []
    repl.handle("next")
    assert [m["content"] for m in server.chat_bodies()[-1]["messages"]] == ["next"]


def test_a_step_limit_in_the_repl_is_one_error_line_and_the_repl_goes_on(cli_env, server, weather):
    repl, shown = open_repl(cli_env, tools=["weather"], yes=True, max_steps=1)
    server.push(*(tool_reply((f"c{i}", "weather", "{}")) for i in range(2)))
    repl.handle("loop")
    assert "stopped after 1 tool step;" in shown()
    repl.handle("after")  # the saved context is one the API accepts
    messages_valid(server.chat_bodies()[-1]["messages"])


def test_a_tool_gets_the_injected_environment_without_the_key(cli_env, server, home):
    probe = "import os; print(os.environ.get('PROBE'), os.environ.get('AIML_API_KEY'))"
    declare(home, env={"code": probe})
    server.push(tool_reply(("c", "env", "{}")), text_reply("Done."))
    r = invoke(["ask", "-T", "env", "--yes", "go"], {**cli_env, "PROBE": "injected"})
    assert r.returncode == 0, r.stderr
    result = server.chat_bodies()[1]["messages"][-1]
    assert result == {"role": "tool", "tool_call_id": "c", "content": "injected None\n"}
