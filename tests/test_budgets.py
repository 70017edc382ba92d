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
from tests.loopback import BatchScript, LoopbackServer, Reply, chunk, sse_reply
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
    child.expect_exact("↑ brings your message back")
    child.expect_exact(PROMPT)
    assert len(server.chat_bodies()) == 1  # refused before sending
    child.send("\x1b[A\r")  # Up brings the refused message back: refused again
    child.expect(r"--max-cost \$[0-9.]+ reached")
    child.expect_exact(PROMPT)
    assert len(server.chat_bodies()) == 1
    child.sendline("/usage")  # the prompt is empty: the REPL stays usable
    child.expect_exact("1 reply")
    child.expect_exact(PROMPT)
    child.sendline("/budget 1")
    child.expect(r"--max-cost \$1\.00: ~?\$[0-9.]+ spent")
    child.expect_exact(PROMPT)
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


# -- every reply's cost counts, once, to the micro-dollar ---------------------------------


def _cost_rows(home: Path) -> list[tuple[str, str, float | None, str | None]]:
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    try:
        rows = db.execute(
            "SELECT role, status, cost_usd, cost_source FROM messages ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [(str(r), str(s), c, src) for r, s, c, src in rows]


def test_batch_history_keeps_each_replys_cost_and_ids(cli_env, server, home, tmp_path):
    charging(server)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(2))
    r = invoke(["batch", str(src), "-o", str(out), "--history"], cli_env)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    try:
        rows = db.execute(
            "SELECT cost_usd, cost_source, inference_id, client_request_id FROM messages"
            " WHERE role = 'assistant' ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    records = {rec["inference_id"]: rec for rec in map(json.loads, out.read_text().splitlines())}
    assert len(rows) == 2
    for usd, source, iid, rid in rows:
        assert (usd, source) == (0.001, "api")
        assert iid in records and rid == records[iid]["client_request_id"]
    # A later run's daily limit counts the batch's spend.
    config(home, "max_cost_per_day = 0.0015")
    refused = invoke(["ask", "hi"], cli_env)
    assert refused.returncode == 1 and "($0.002 spent today" in refused.stderr
    listed = invoke(["history", "list"], cli_env).stdout.decode()
    assert listed.count("$0.001") == 2


def test_max_cost_per_day_reads_history_even_when_this_run_saves_none(cli_env, server, home):
    charging(server)
    assert run_cli(["ask", "one"], cli_env).returncode == 0  # $0.001 in history
    config(home, "max_cost_per_day = 0.001")
    r = invoke(["ask", "--no-history", "two"], cli_env)
    assert r.returncode == 1, r.stderr
    assert "max_cost_per_day $0.001 reached ($0.001 spent today, as history recorded)" in r.stderr
    assert "history is off" not in r.stderr
    assert len(server.chat_bodies()) == 1


def _cut_by_an_error(text: str) -> Reply:
    """A stream that says `text` and then fails with an error chunk (charged, when the
    server charges: its charge rides on that last chunk)."""
    error = {"error": {"message": "upstream failed", "code": "upstream_error"}}
    return Reply(events=[chunk(text), f"data: {json.dumps(error)}\n\n"])


def test_a_charge_on_an_error_chunk_counts_against_max_cost(cli_env, server, home):
    charging(server, usd=0.5)
    server.push(_cut_by_an_error("Half a rep"), text_reply("never"))
    child = spawn(["chat", "--max-cost", "0.4"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("first")
    child.expect_exact("upstream failed")
    child.expect_exact(PROMPT)
    child.sendline("/cost")
    child.expect_exact("cost: $0.50")
    child.expect_exact(PROMPT)
    child.sendcontrol("u")
    child.sendline("second")
    child.expect(r"--max-cost \$0\.40 reached \(\$0\.50 spent\)")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert len(server.chat_bodies()) == 1
    kept = [row for row in _cost_rows(home) if row[0] == "assistant"]
    assert kept == [("assistant", "incomplete", 0.5, "api")]


def test_a_reply_cut_short_without_a_charge_counts_its_estimate(priced, server, home):
    server.push(Reply(events=sse_reply(["Hello", " there", " friend."]), drop_after=2))
    r = invoke(["ask", "hi"], priced)
    assert r.returncode != 0 and b"Hello" in r.stdout
    [(_, status, usd, source)] = [row for row in _cost_rows(home) if row[0] == "assistant"]
    assert status == "incomplete" and source == "estimate" and usd is not None and usd > 0


def test_a_reply_cut_short_of_unknown_cost_makes_max_cost_unkeepable(cli_env, server, home):
    # No catalogue, no charge: its cost is not known.
    server.push(_cut_by_an_error("Half"), text_reply("never"))
    child = spawn(["chat", "--max-cost", "5"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("first")
    child.expect_exact("upstream failed")
    child.expect_exact(PROMPT)
    child.sendline("second")
    child.expect_exact("--max-cost cannot be kept")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert len(server.chat_bodies()) == 1


def test_a_filtered_reply_without_text_is_counted_once(cli_env, server):
    charging(server)
    filtered = [chunk(finish="content_filter"), "data: [DONE]\n\n"]
    server.push(Reply(events=filtered))
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("first")
    child.expect_exact("content filter")
    child.expect_exact(PROMPT)
    child.sendcontrol("u")  # the unanswered message is back as the draft
    child.sendline("/cost")
    child.expect(r"cost: (\$[0-9.]+)")
    assert child.match.group(1) == "$0.001"
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_a_reply_of_unknown_cost_after_a_priced_one_stops_max_cost(priced, server, home):
    config(home, tools=True)
    unpriced = [  # a tool call with no usage: its cost is not known
        e for e in tool_reply(("c1", "weather", '{"city": "Oslo"}')).events or []
        if "prompt_tokens" not in e
    ]  # fmt: skip
    server.push(
        tool_reply(("c0", "weather", '{"city": "Oslo"}')),  # priced
        Reply(events=unpriced),
        text_reply("never"),
    )
    r = invoke(["ask", "-T", "weather", "--yes", "--max-cost", "5", "go"], priced)
    assert r.returncode == 1, r.stderr
    assert "--max-cost cannot be kept" in r.stderr
    assert len(server.chat_bodies()) == 2


def test_ten_replies_of_ten_cents_spend_a_dollar_exactly(cli_env, server, home):
    config(home, tools=True)
    charging(server, usd=0.1)
    loop_replies(server, steps=11)
    args = ["ask", "-T", "weather", "--yes", "--max-steps", "20", "--max-cost", "1", "go"]
    r = invoke(args, cli_env)
    assert r.returncode == 1, r.stderr
    assert "--max-cost $1.00 reached ($1.00 spent)" in r.stderr
    assert len(server.chat_bodies()) == 10


def test_batch_ten_replies_of_ten_cents_spend_a_dollar_exactly(priced, server, tmp_path):
    charging(server, usd=0.1)
    server.script = BatchScript(delay=0.0)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(12))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1", "--max-cost", "1"], priced)
    assert r.returncode == 1, r.stderr
    assert "--max-cost $1.00 reached ($1.00 spent)" in r.stderr
    assert len(server.chat_bodies()) == 10


def test_history_sums_ten_cents_ten_times_to_a_dollar(home):
    from aimlchat.messages import Cost, assistant
    from aimlchat.storage.store import Store

    store = Store(home / "data" / "aimlchat" / "history.db")
    cid = store.create(model="m", system=None)
    for _ in range(10):
        store.add(cid, assistant("x"), cost=Cost(0.1))
    assert store.spent(0) == 1.0
    [total] = store.spend(0, 2e9)
    assert total.cost == 1.0
    store.close()


def test_a_failed_row_kept_for_its_charge_is_no_reply_in_usage(home):
    from aimlchat.messages import Cost, assistant
    from aimlchat.storage.store import Store

    store = Store(home / "data" / "aimlchat" / "history.db")
    cid = store.create(model="m", system=None)
    store.add(cid, assistant("ok"), cost=Cost(0.002))
    store.add(cid, assistant(reasoning="hmm"), status="failed", cost=Cost(0.001))
    [total] = store.spend(0, 2e9)
    assert total.replies == 1 and total.cost == 0.003  # its charge counts, not as a reply
    store.close()


# -- batch: what is in flight is held against the budget ------------------------------------


def test_batch_holds_each_requests_worst_case_while_it_runs(priced, server, tmp_path):
    # Each item may cost up to ~$0.001 (1,600 tokens at $0.63/M); each is charged $0.001.
    # Three fit under $0.0025 with the others' worst cases held; a fourth never starts,
    # though four workers are free.
    charging(server, usd=0.001)
    server.script = BatchScript(delay=0.3)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(8))
    args = ["batch", str(src), "-o", str(out), "-j", "4", "--max-tokens", "1600"]
    r = invoke([*args, "--max-cost", "0.0025"], priced)
    assert r.returncode == 1, r.stderr
    assert "--max-cost $0.0025 reached ($0.003 spent)" in r.stderr
    assert len(server.chat_bodies()) == 3
    assert len(out.read_text().splitlines()) == 3


def test_batch_sees_the_days_spend_of_other_processes_as_it_goes(cli_env, server, home, tmp_path):
    from aimlchat.messages import Cost, assistant
    from aimlchat.storage.store import Store

    config(home, "max_cost_per_day = 1")
    db = home / "data" / "aimlchat" / "history.db"
    Store(db).close()  # a history to read
    # The day is read again at most once a second (batch.budget.REREAD): the first
    # item takes longer than that, so the next look sees the other process's spend.
    script = BatchScript(delay=0.0, delay_for=lambda prompt: 1.1 if prompt == "p1" else 0.0)

    def meanwhile(request: dict[str, Any]) -> Reply:
        reply = script(request)
        if script.count == 1:  # another process spends the day during the first item
            store = Store(db)
            store.add(store.create(model="m", system=None), assistant("x"), cost=Cost(2.0))
            store.close()
        return reply

    server.script = meanwhile
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(4))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1"], cli_env)
    assert r.returncode == 1, r.stderr
    assert "max_cost_per_day $1.00 reached" in r.stderr
    assert len(server.chat_bodies()) == 1


def test_batch_with_history_counts_its_spend_once_toward_the_day(priced, server, home, tmp_path):
    config(home, f"max_cost_per_day = {TEXT * 2.5:.10f}")
    server.script = BatchScript(delay=0.0)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(6))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1", "--history"], priced)
    assert r.returncode == 1, r.stderr
    assert "max_cost_per_day" in r.stderr and "3 results written" in r.stderr
    assert len(server.chat_bodies()) == 3


def test_batch_max_cost_takes_an_amount_as_people_type_it(cli_env, server):
    r = invoke(["batch", "-", "--max-cost", "$1,000"], cli_env, input="hello\n")
    assert r.returncode == 0, r.stderr
    bad = invoke(["batch", "-", "--max-cost", "lots"], cli_env, input="hello\n")
    assert bad.returncode == 2
    assert "--max-cost takes an amount in US dollars" in bad.stderr


def test_a_run_not_saving_adds_its_own_spend_to_what_history_recorded(cli_env, server, home):
    """--no-history reads the day from history, and what this run spends is not there:
    it counts on top (a tool loop's steps, here), so the day is not passed unseen."""
    charging(server)
    assert run_cli(["ask", "one"], cli_env).returncode == 0  # $0.001 in history
    config(home, "max_cost_per_day = 0.0025", tools=True)
    loop_replies(server)
    r = invoke(["ask", "--no-history", "-T", "weather", "--yes", "go"], cli_env)
    assert r.returncode == 1, r.stderr
    assert (
        "max_cost_per_day $0.0025 reached ($0.003 spent today, as history recorded, and" in r.stderr
    )
    assert len(server.chat_bodies()) == 1 + 2  # history's one, then two steps of this run


def test_a_conversation_that_stops_saving_counts_from_then_on():
    from aimlchat.chat.budget import Budget

    class Spent:
        def __init__(self) -> None:
            self.micro_usd: int | None = 0
            self.unknown = 0
            self.estimated = False

    recorded = {"usd": 0.0}
    budget = Budget(daily=1.0, recorded=lambda since: recorded["usd"])
    totals, saving = Spent(), {"on": True}
    budget.watch(totals, saving=lambda: saving["on"])
    totals.micro_usd = 300_000
    recorded["usd"] = 0.3  # saved: history holds it
    assert budget.spent_today() == pytest.approx(0.3)
    saving["on"] = False  # the store failed while saving the next reply
    totals.micro_usd = 500_000
    assert budget.spent_today() == pytest.approx(0.5)  # 0.3 recorded + 0.2 not saved


@pytest.mark.parametrize("value", ["0,05", "1,5", "1e-9", "0.0000004"])
def test_an_amount_that_would_not_mean_what_was_typed_is_refused(cli_env, server, value):
    """A decimal comma is not dropped (it would make "0,05" $5), and an amount below
    the micro-dollar budgets count in is not taken for a limit of $0.00."""
    r = invoke(["ask", "--max-cost", value, "hi"], cli_env)
    assert r.returncode == 2, r.stderr
    assert "--max-cost" in r.stderr
    assert server.chat_bodies() == []
