"""Budgets that stop: `--max-cost` on ask (tool steps included) and chat (the session),
`max_cost_per_day` in config.toml (every process, from what history recorded) with its
one-run override, and batch's budgets. Each stop is one line and exit 1; the reply that
crossed the line is shown and saved; nothing is sent after it.

Most costs here are the catalogue's estimates (the loopback server sends no charge by
default): the catalogue is cached first, as `aimlchat models` does. With
`server.charges` on, every reply carries the API's exact charge, and that is what
counts, priced or not.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import invoke, run_cli, spawn
from tests.loopback import BatchScript, LoopbackServer, Reply, sse_reply
from tests.loopback_tools import text_reply, tool_reply
from tests.test_tool_calls import WEATHER, declare, messages_valid

# meta-llama/llama-4-scout in the loopback catalogue: USD per token.
IN, OUT = 0.189e-6, 0.63e-6
TOOL_STEP = 50 * IN + 20 * OUT  # a tool_reply's usage: 50 prompt, 20 completion
TEXT = 10 * IN + 5 * OUT  # text_reply's, and a batch completion's


def config(home: Path, text: str = "", *, tools: bool = False) -> None:
    if tools:
        declare(home, weather={"code": WEATHER, "description": "Current weather"})
    path = home / "config" / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    path.write_text(text + "\n" + old)  # top-level keys before any table


@pytest.fixture
def priced(cli_env: dict[str, str]) -> dict[str, str]:
    """The catalogue cached, so every reply has a cost."""
    assert invoke(["models"], cli_env).returncode == 0
    return cli_env


def loop_replies(server: LoopbackServer, steps: int = 4) -> None:
    calls = [tool_reply((f"c{i}", "weather", '{"city": "Oslo"}')) for i in range(steps)]
    server.push(*calls, text_reply("Done."))


def stderr_lines(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def replies_saved(home: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    try:
        rows = db.execute("SELECT role, status FROM messages ORDER BY id").fetchall()
    finally:
        db.close()
    return [(str(r), str(s)) for r, s in rows]


# -- ask --------------------------------------------------------------------------------


def test_ask_tool_loop_stops_at_max_cost_before_the_next_request(priced, server, home):
    config(home, tools=True)
    loop_replies(server)
    limit = TOOL_STEP * 1.5  # the second reply crosses it
    r = invoke(["ask", "-T", "weather", "--yes", "--max-cost", f"{limit:.10f}", "go"], priced)
    assert r.returncode == 1, r.stderr
    assert len(server.chat_bodies()) == 2  # nothing sent once the limit was reached
    [line] = stderr_lines(r.stderr, "--max-cost")
    assert "reached" in line and "spent" in line and "nothing more is sent" in line
    # The reply that crossed the line is saved; its calls are answered (not run), so the
    # conversation goes on with --continue.
    roles = [role for role, status in replies_saved(home) if status == "ok"]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    with server.lock:
        server.queue[:] = [text_reply("Fine.")]  # the tool replies never asked for
    assert invoke(["ask", "--continue", "and?"], priced).returncode == 0
    messages_valid(server.chat_bodies()[-1]["messages"])
    sent = server.chat_bodies()[-1]["messages"]
    assert [m["role"] for m in sent][-2:] == ["tool", "user"]
    assert sent[-2]["content"].startswith("not run: a spending limit was reached")


def test_ask_under_max_cost_runs_its_whole_tool_loop(priced, server, home):
    config(home, tools=True)
    loop_replies(server, steps=2)
    r = invoke(["ask", "-T", "weather", "--yes", "--max-cost", "1", "go"], priced)
    assert r.returncode == 0, r.stderr
    assert len(server.chat_bodies()) == 3 and r.stdout.endswith(b"Done.\n")


def test_max_cost_cannot_be_kept_when_a_reply_cost_is_unknown(cli_env, server, home):
    config(home, tools=True)  # no catalogue cached, and the server sends no charge
    loop_replies(server)
    r = invoke(["ask", "-T", "weather", "--yes", "--max-cost", "5", "go"], cli_env)
    assert r.returncode == 1, r.stderr
    assert len(server.chat_bodies()) == 1
    assert "--max-cost cannot be kept: the cost of the last reply is unknown" in r.stderr


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_a_bad_max_cost_is_a_usage_error(cli_env, server, value):
    r = invoke(["ask", "--max-cost", value, "hi"], cli_env)
    assert r.returncode == 2, r.stderr
    assert server.chat_bodies() == []


def charging(server: LoopbackServer, usd: float = 0.001) -> None:
    """Every reply carries the AI/ML API's exact charge (tests/loopback_charges.py)."""
    server.charges = "top"
    server.charge_usd = usd


def test_ask_max_cost_counts_the_exact_charges(cli_env, server, home):
    config(home, tools=True)  # no catalogue cached: only the charges are known
    charging(server)
    loop_replies(server)
    r = invoke(["ask", "-T", "weather", "--yes", "--max-cost", "0.0025", "go"], cli_env)
    assert r.returncode == 1, r.stderr
    assert len(server.chat_bodies()) == 3
    [line] = stderr_lines(r.stderr, "error: --max-cost")
    assert "--max-cost $0.0025 reached ($0.003 spent)" in line  # exact: no "~"


# -- max_cost_per_day -------------------------------------------------------------------


def test_max_cost_per_day_counts_every_process_from_history(priced, server, home):
    config(home, f"max_cost_per_day = {TEXT * 1.5:.10f}")
    server.push(text_reply("one"), text_reply("two"), text_reply("three"))
    first = run_cli(["ask", "one"], priced)
    assert first.returncode == 0, first.stderr
    second = run_cli(["ask", "two"], priced)  # below the limit before it: it goes
    assert second.returncode == 0, second.stderr
    third = run_cli(["ask", "three"], priced)
    assert third.returncode == 1, third.stderr
    err = third.stderr.decode()
    [line] = stderr_lines(err, "max_cost_per_day")
    assert "reached" in line and "spent today" in line and "Traceback" not in err
    assert len(server.chat_bodies()) == 2
    assert "--max-cost-per-day USD overrides config.toml for one run" in err
    # The flag overrides config.toml for one run.
    override = run_cli(["ask", "--max-cost-per-day", "1", "three"], priced)
    assert override.returncode == 0, override.stderr
    assert len(server.chat_bodies()) == 3


def test_max_cost_per_day_counts_the_exact_charges_history_recorded(cli_env, server, home):
    config(home, "max_cost_per_day = 0.0015")  # no catalogue: the charges alone count
    charging(server)
    assert run_cli(["ask", "one"], cli_env).returncode == 0
    assert run_cli(["ask", "two"], cli_env).returncode == 0
    third = run_cli(["ask", "three"], cli_env)
    assert third.returncode == 1
    assert "max_cost_per_day $0.0015 reached ($0.002 spent today" in third.stderr.decode()
    assert len(server.chat_bodies()) == 2


@pytest.mark.parametrize("value", ["0", "-2", "lots"])
def test_a_bad_max_cost_per_day_flag_is_a_usage_error(cli_env, server, value):
    r = invoke(["ask", "--max-cost-per-day", value, "hi"], cli_env)
    assert r.returncode == 2, r.stderr
    assert server.chat_bodies() == []


def test_a_bad_max_cost_per_day_in_config_is_refused(cli_env, server, home):
    config(home, 'max_cost_per_day = "ten"')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3 and "max_cost_per_day" in r.stderr
    assert server.chat_bodies() == []


def test_max_cost_per_day_without_history_counts_this_run(priced, server, home):
    config(home, f"max_cost_per_day = {TOOL_STEP * 1.5:.10f}", tools=True)
    loop_replies(server)
    r = invoke(["ask", "--no-history", "-T", "weather", "--yes", "go"], priced)
    assert r.returncode == 1, r.stderr
    assert len(stderr_lines(r.stderr, "history is off")) == 1  # warned once
    assert "spent today, this run" in r.stderr
    assert len(server.chat_bodies()) == 2


def test_max_cost_per_day_refuses_cmd(priced, server, home):
    config(home, f"max_cost_per_day = {TEXT / 2:.10f}")
    server.push(text_reply("```sh\nls\n```"))
    assert run_cli(["ask", "hi"], priced).returncode == 0  # spends the day
    r = invoke(["cmd", "list files"], priced)
    assert r.returncode == 1 and "max_cost_per_day" in r.stderr
    assert len(server.chat_bodies()) == 1


# -- chat -------------------------------------------------------------------------------

PROMPT = "›"


def test_chat_refuses_the_next_message_once_the_session_budget_is_spent(priced, server):
    server.script = lambda request: Reply(events=sse_reply(["Hello", " there."]))
    child = spawn(["chat", "--max-cost", f"{TEXT / 2:.10f}"], priced)
    child.expect_exact(PROMPT)
    child.sendline("first")
    child.expect_exact("Hello there.")
    child.expect_exact(PROMPT)
    child.sendline("second")
    child.expect(r"--max-cost \$[0-9.]+ reached \(~?\$[0-9.]+ spent\)")
    child.expect_exact("/budget USD raises it")
    child.expect_exact(PROMPT)
    assert len(server.chat_bodies()) == 1  # refused before sending
    child.sendline("")  # the refused message is back at the prompt: refused again
    child.expect(r"--max-cost \$[0-9.]+ reached")
    child.expect_exact(PROMPT)
    assert len(server.chat_bodies()) == 1
    child.sendcontrol("u")  # the draft cleared
    child.sendline("/usage")  # the REPL stays usable
    child.expect_exact("1 reply")
    child.expect_exact(PROMPT)
    child.sendline("/budget 1")
    child.expect(r"--max-cost \$1\.00: ~?\$[0-9.]+ spent")
    child.expect_exact(PROMPT)
    child.sendcontrol("u")
    child.sendline("second")
    child.expect_exact("Hello there.")
    child.expect_exact(PROMPT)
    assert len(server.chat_bodies()) == 2
    assert server.chat_bodies()[1]["messages"][-1]["content"] == "second"
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_budget_command_refuses_a_bad_amount(priced, server):
    child = spawn(["chat"], priced)
    child.expect_exact(PROMPT)
    child.sendline("/budget cheap")
    child.expect_exact("/budget takes an amount in USD or off")
    child.expect_exact(PROMPT)
    child.sendline("/budget 0")
    child.expect_exact("must be more than 0")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)


# -- batch ------------------------------------------------------------------------------


def _jsonl(n: int) -> str:
    return "".join(json.dumps({"id": i, "prompt": f"p{i}"}) + "\n" for i in range(1, n + 1))


def test_batch_is_refused_when_the_day_is_spent(priced, server, home, tmp_path):
    config(home, f"max_cost_per_day = {TEXT / 2:.10f}")
    server.push(text_reply("spent"))
    assert run_cli(["ask", "hi"], priced).returncode == 0
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(3))
    r = invoke(["batch", str(src), "-o", str(out)], priced)
    assert r.returncode == 1, r.stderr
    assert "max_cost_per_day" in r.stderr and "no item was asked" in r.stderr
    assert len(server.chat_bodies()) == 1 and not out.exists()


def test_batch_stops_taking_items_at_max_cost_per_day(priced, server, home, tmp_path):
    config(home, f"max_cost_per_day = {TEXT * 2.5:.10f}")
    server.script = BatchScript(delay=0.0)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(6))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1"], priced)
    assert r.returncode == 1, r.stderr
    assert "max_cost_per_day" in r.stderr and "3 results written" in r.stderr
    assert len(server.chat_bodies()) == 3
    assert len(out.read_text().splitlines()) == 3  # every reply paid for is written


def test_batch_max_cost_counts_exact_charges_as_items_finish(priced, server, tmp_path):
    # The estimate of each item is ~$0.000005; the charge, $0.001, is what counts.
    charging(server)
    server.script = BatchScript(delay=0.0)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(8))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1", "--max-cost", "0.0025"], priced)
    assert r.returncode == 1, r.stderr
    assert "--max-cost $0.0025 reached ($0.003 spent)" in r.stderr
    assert len(server.chat_bodies()) == 3
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [rec["cost"] for rec in records] == [0.001] * 3


def test_batch_max_cost_stops_on_a_reply_of_unknown_cost(priced, server, tmp_path):
    def no_usage(request: dict[str, Any]) -> Reply:
        body = {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}
            ],
        }  # fmt: skip
        return Reply(body=body)

    server.script = no_usage
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(4))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1", "--max-cost", "1"], priced)
    assert r.returncode == 1, r.stderr
    assert "--max-cost: the cost of item 1 is unknown" in r.stderr
    assert len(server.chat_bodies()) == 1 and len(out.read_text().splitlines()) == 1
