"""`aimlchat batch` against the loopback server: concurrency, shared rate limits,
per-item errors, input, order, budget, shards, progress and history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aimlchat.batch.gate import RateGate
from aimlchat.batch.progress import Stats, live_line
from aimlchat.batch.records import Shard
from tests.batch_helpers import ids, results, write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer, Reply


@pytest.fixture
def script(server: LoopbackServer) -> BatchScript:
    s = BatchScript(delay=0.02)
    server.script = s
    return s


# -- concurrency and rate limits ----------------------------------------------------------


def test_concurrency_is_never_exceeded(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay = 0.1
    src = write_prompts(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "--concurrency", "5"], cli_env)
    assert result.returncode == 0, result.stderr
    # Counted by the server as requests arrive and are answered: 5 at once means the
    # requests did overlap, and never 6 means the bound held.
    assert server.peak_in_flight == 5
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 41))


def test_rate_limit_storm_pauses_every_worker_for_retry_after(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay = 0.05
    script.storm_at, script.storm_size, script.retry_after = 9, 6, "1"
    src = write_prompts(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "-j", "6"], cli_env)
    assert result.returncode == 0, result.stderr
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 31))  # 429s were retried
    assert all(r["error"] is None for r in results(out))
    first = script.rate_limited_at[0]
    arrivals = [r["time"] for r in server.requests if r["path"].endswith("/completions")]
    # Until Retry-After has passed, only the other 5 workers' requests already on their
    # way may land (and get their 429): no worker sends another, however slow the machine.
    during_the_pause = [t for t in arrivals if first < t < first + 0.95]
    assert len(during_the_pause) <= 6 - 1
    assert "6 retries" in result.stderr


def test_gate_halves_the_limit_once_per_round_and_climbs_back() -> None:
    now = [0.0]
    gate = RateGate(8, clock=lambda: now[0], rand=lambda: 0.0)
    tickets = [gate.acquire() for _ in range(8)]
    assert gate.rate_limited(tickets[0], 2.0) == 2.0
    assert gate.limit == 4
    gate.rate_limited(tickets[1], 2.0)  # sent before the cut: no second cut
    assert gate.limit == 4
    now[0] = 2.5
    for t in tickets[2:]:
        gate.release(t, ok=True)
    for _ in range(60):
        gate.release(gate.acquire(), ok=True)
    assert gate.limit == 8


# -- per-item errors ------------------------------------------------------------------------


def test_one_item_failing_with_400_is_recorded_and_the_rest_succeed(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 12, fail=frozenset({7}))
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 1
    assert "1 of 12 items failed" in result.stderr and "--retry-errors" in result.stderr
    by_id = {r["id"]: r for r in results(out)}
    assert len(by_id) == 12
    assert by_id["q7"]["error"]["status"] == 400
    assert by_id["q7"]["error"]["exit_code"] == 1
    assert "cannot answer" in by_id["q7"]["error"]["message"]
    assert by_id["q7"]["text"] is None
    assert all(r["error"] is None for k, r in by_id.items() if k != "q7")
    assert len(server.chat_bodies()) == 12  # a 400 is not retried

    script.fail = ""  # fixed on the server side: --retry-errors asks q7 again, only q7
    again = invoke(["batch", str(src), "-o", str(out), "--retry-errors"], cli_env)
    assert again.returncode == 0, again.stderr
    assert len(server.chat_bodies()) == 13
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 13))
    assert all(r["error"] is None for r in results(out))


def test_server_errors_are_retried_per_item(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.push(Reply(status=502, body={"error": {"message": "bad gateway"}}))
    src = write_prompts(tmp_path / "in.jsonl", 3)
    result = invoke(["batch", str(src), "-j", "1"], cli_env)
    assert result.returncode == 0, result.stderr
    assert [r["error"] for r in map(json.loads, result.stdout.splitlines())] == [None] * 3
    assert len(server.chat_bodies()) == 4


def test_a_rejected_key_stops_the_batch_with_exit_3(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    server.script = lambda request: Reply(status=401, body={"error": {"message": "bad key"}})
    out = tmp_path / "out.jsonl"
    src = write_prompts(tmp_path / "in.jsonl", 50)
    result = invoke(["batch", str(src), "-o", str(out), "-j", "2"], cli_env)
    assert result.returncode == 3
    assert "401" in result.stderr
    assert out.read_text() == ""  # nothing recorded: a rerun with a good key asks them all
    assert len(server.chat_bodies()) <= 4


# -- input ----------------------------------------------------------------------------------


def test_plain_text_lines_from_stdin(server: LoopbackServer, cli_env: dict[str, str]) -> None:
    result = invoke(["batch", "-"], cli_env, input="hello there\n\nsecond prompt\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert sorted(r["id"] for r in lines) == [1, 3]  # ids are line numbers; blanks count
    assert all(r["text"] == "Hello from the loopback server." for r in lines)
    sent = sorted(b["messages"][-1]["content"] for b in server.chat_bodies())
    assert sent == ["hello there", "second prompt"]
    assert all(b["stream"] is False for b in server.chat_bodies())
    assert result.stderr.count("\n") == 1 and "batch: 2 done" in result.stderr


NO_PROMPT = '{"prompt": "ok"}\nplain\n{"id": "x", "system": "no prompt"}\n'
DUPLICATE_ID = '{"id": 1, "prompt": "a"}\n{"id": "1", "prompt": "b"}\n'


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        (NO_PROMPT, 'input line 3: a JSON record needs a non-empty "prompt" string'),
        (DUPLICATE_ID, "input line 2: duplicate id '1'"),
    ],
    ids=["no prompt", "duplicate id"],
)
def test_a_bad_line_is_exit_2_naming_it_before_any_request(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], lines: str, said: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(lines)
    result = invoke(["batch", str(src)], cli_env)
    assert result.returncode == 2
    assert said in result.stderr
    assert server.chat_bodies() == []


def _help(command: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    # Click prints --help itself, to sys.stdout rather than the injected stream.
    shown = invoke([command, "--help"], env).stdout.decode() + capsys.readouterr().out
    assert shown.startswith(f"Usage: aimlchat {command} ")
    return shown


def test_batch_takes_the_shared_options_but_extra_fields_are_dash_capital_o(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    batch, ask = _help("batch", cli_env, capsys), _help("ask", cli_env, capsys)
    assert "-o, --output OUT" in batch and "-O, --option KEY=VALUE" in batch
    assert "-o, --option KEY=VALUE" in ask  # the rename is batch's alone
    assert "--temperature" in batch and "--schema" in batch
    for absent in ("--no-stream", "--attach", "--tool", "--continue", "--no-history", "--raw"):
        assert absent not in batch


def test_record_fields_override_the_command_line(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "in.jsonl"
    record = {"id": "a", "prompt": "p", "system": "S2", "model": "openai/gpt-4o"}
    src.write_text(json.dumps({**record, "params": {"temperature": 0.5}}) + "\nplain\n")
    args = ["batch", str(src), "-j", "1", "--ordered", "-s", "S1", "--temperature", "1"]
    result = invoke([*args, "--format", "json", "-O", "user=me"], cli_env)
    assert result.returncode == 0, result.stderr
    first, second = server.chat_bodies()
    assert first["model"] == "openai/gpt-4o" and first["temperature"] == 0.5
    assert first["messages"][0] == {"role": "system", "content": "S2"}
    assert second["model"] == "meta-llama/llama-4-scout" and second["temperature"] == 1
    assert second["messages"][0] == {"role": "system", "content": "S1"}
    assert second["response_format"] == {"type": "json_object"} and second["user"] == "me"
    assert [r["model"] for r in map(json.loads, result.stdout.splitlines())] == [
        "openai/gpt-4o",
        "meta-llama/llama-4-scout",
    ]


# -- order, budget, shards --------------------------------------------------------------------


def test_ordered_keeps_input_order_and_the_default_does_not(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    # Later prompts answer sooner, so completion order is the reverse of input order.
    script.delay_for = lambda prompt: 0.02 * (13 - int(prompt.split()[1]))
    src = write_prompts(tmp_path / "in.jsonl", 12)
    ordered = invoke(["batch", str(src), "-j", "6", "--ordered"], cli_env)
    plain = invoke(["batch", str(src), "-j", "6"], cli_env)
    expected = [f"q{i}" for i in range(1, 13)]
    assert [json.loads(x)["id"] for x in ordered.stdout.splitlines()] == expected
    unordered = [json.loads(x)["id"] for x in plain.stdout.splitlines()]
    assert sorted(unordered) == sorted(expected) and unordered != expected


def test_max_cost_stops_taking_items_and_exits_1(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    # Each reply costs 10 x 0.189/M + 5 x 0.63/M = $0.00000504 at catalogue prices.
    src = write_prompts(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    result = invoke(
        ["batch", str(src), "-o", str(out), "-j", "1", "--max-cost", "0.00002"], cli_env
    )
    assert result.returncode == 1
    assert "--max-cost $0.00002 reached ($0.0000" in result.stderr
    assert 4 <= len(ids(out)) <= 5  # the fourth reaches it; one more may be in flight
    assert all(r["cost"] == pytest.approx(5.04e-6) for r in results(out))


def test_max_cost_without_a_price_is_refused(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 2)
    result = invoke(["batch", str(src), "-m", "no/such-model", "--max-cost", "1"], cli_env)
    assert result.returncode == 2 and "no price for no/such-model" in result.stderr
    assert server.chat_bodies() == []


def test_shards_are_disjoint_and_cover_every_item(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay = 0.0
    src = write_prompts(tmp_path / "in.jsonl", 60)
    parts = []
    for k in (1, 2, 3):
        out = tmp_path / f"part{k}.jsonl"
        result = invoke(["batch", str(src), "-o", str(out), "--shard", f"{k}/3"], cli_env)
        assert result.returncode == 0, result.stderr
        parts.append(set(ids(out)))
    assert all(parts)  # each host got some work
    assert parts[0] | parts[1] | parts[2] == {f"q{i}" for i in range(1, 61)}
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert Shard.parse("2/3").selects("q7") == Shard.parse("2/3").selects("q7")


def test_bad_shard_is_a_usage_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 1)
    result = invoke(["batch", str(src), "--shard", "4/3"], cli_env)
    assert result.returncode == 2 and "--shard expects K/N" in result.stderr


# -- progress and history -----------------------------------------------------------------------


def test_progress_line_shows_counts_rate_tokens_cost_and_eta() -> None:
    stats = Stats(total=500, done=100, errors=2, tokens=1500, cost=0.01, retries=3, started=0.0)
    line = live_line(stats, now=10.0)
    for part in ("100/500", "20%", "10.0/s", "2 errors", "3 retries", "1,500 tokens"):
        assert part in line
    assert "$0.01 " in line and "ETA 40s" in line


def test_history_is_off_unless_asked(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 3)
    assert invoke(["batch", str(src)], cli_env).returncode == 0
    db = Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"
    assert not db.exists()
    assert invoke(["batch", str(src), "--history"], cli_env).returncode == 0
    listing = invoke(["history", "list"], cli_env)
    assert listing.stdout.decode().count("prompt") == 3
