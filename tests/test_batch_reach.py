"""`aimlchat batch` when the server cannot be reached: a batch stops (exit 4) instead of
recording an error for every item, and one network failure among successes is that
item's error. Also: a cost that cannot be known is said to be unknown, not $0."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from aimlchat.batch.progress import Stats, live_line
from tests.batch_helpers import closed_port_url, dropping, ids, results, write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer, Reply


@pytest.fixture
def script(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> BatchScript:
    s = BatchScript(delay=0.02)
    server.script = s
    # A dropped request is an exception in the handler: the server closes the
    # connection without an answer; its traceback on the test's stderr says nothing.
    monkeypatch.setattr(server, "handle_error", lambda request, address: None)
    return s


def test_a_server_that_is_down_stops_the_batch_with_exit_4_and_records_nothing(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "e.txt"
    src.write_text("one\ntwo\nthree\n")
    out = tmp_path / "e3.jsonl"
    env = {**cli_env, "AIMLCHAT_BASE_URL": closed_port_url()}
    result = invoke(["batch", str(src), "-o", str(out), "--retries", "0"], env)
    assert result.returncode == 4, result.stderr
    assert out.read_text() == ""  # a rerun once the server is up asks every item
    assert "cannot reach the server" in result.stderr
    assert "connection refused" in result.stderr
    assert "run the same command again to resume" in result.stderr
    assert "items failed" not in result.stderr
    assert "nothing recorded for 3 items" in result.stderr  # all three went out at once

    # One request at a time: the first item that cannot reach the server stops the batch
    # (the next one may already be on its way by then), not the tenth.
    src.write_text("".join(f"prompt {i}\n" for i in range(10)))
    single = invoke(["batch", str(src), "-o", str(out), "--retries", "0", "-j", "1"], env)
    assert single.returncode == 4 and out.read_text() == ""
    unrecorded = re.search(r"nothing recorded for (\d+) item", single.stderr)
    assert unrecorded is not None and int(unrecorded[1]) <= 2


def test_an_outage_mid_run_stops_with_exit_4_and_the_rerun_finishes(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.script = dropping(script, lambda number, prompt: number > 6)
    src = write_prompts(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "2", "--retries", "0"]
    result = invoke(args, cli_env)
    assert result.returncode == 4, result.stderr
    assert "cannot reach the server" in result.stderr and "nothing recorded for" in result.stderr
    assert len(results(out)) == 6 and all(r["error"] is None for r in results(out))
    # Stopped after 3 failures with no answer after them, not 24: at most the window of
    # items already handed to the workers (2 x -j) went out on top.
    assert len(server.chat_bodies()) <= 6 + 3 + 2 * 2

    server.script = script  # the server is back: the rerun asks the rest, once each
    again = invoke(args, cli_env)
    assert again.returncode == 0, again.stderr
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 31))


def test_one_network_failure_among_successes_is_that_items_error_record(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.script = dropping(script, lambda number, prompt: prompt == "prompt 3")
    src = write_prompts(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "3", "--ordered", "--retries", "0"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    assert "1 of 8 items failed" in result.stderr
    assert ids(out) == [f"q{i}" for i in range(1, 9)]  # --ordered holds, held or not
    q3 = results(out)[2]
    assert q3["error"]["exit_code"] == 4 and q3["error"]["status"] is None
    assert all(r["error"] is None for r in results(out) if r["id"] != "q3")


def test_a_slow_network_failure_behind_a_full_ordered_window_does_not_stall(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    def slow_then_dropped(number: int, prompt: str) -> bool:
        if prompt != "prompt 1":
            return False
        time.sleep(0.5)  # the other items fill the reorder window meanwhile
        return True

    server.script = dropping(script, slow_then_dropped)
    src = write_prompts(tmp_path / "in.jsonl", 16)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "2", "--ordered", "--retries", "0"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    assert ids(out) == [f"q{i}" for i in range(1, 17)]
    assert results(out)[0]["error"]["exit_code"] == 4


# -- cost ---------------------------------------------------------------------------------


def _summary(stderr: str) -> str:
    return next(line.split(": ", 1)[1] for line in stderr.splitlines() if ": batch: " in line)


def test_without_prices_the_summary_says_cost_unknown_not_zero(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.models_reply = Reply(status=500, body={"error": {"message": "catalogue down"}})
    src = write_prompts(tmp_path / "in.jsonl", 3)
    result = invoke(["batch", str(src), "--retries", "0"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "no prices" in result.stderr and "cost is left null" in result.stderr
    summary = _summary(result.stderr)
    assert summary.startswith("batch: 3 done") and "cost unknown" in summary
    assert "$" not in summary


def test_a_server_that_is_down_says_cost_unknown(tmp_path: Path, cli_env: dict[str, str]) -> None:
    src = tmp_path / "e.txt"
    src.write_text("one\n")
    env = {**cli_env, "AIMLCHAT_BASE_URL": closed_port_url()}
    result = invoke(["batch", str(src), "-o", str(tmp_path / "o.jsonl"), "--retries", "0"], env)
    summary = _summary(result.stderr)
    assert "cost unknown" in summary and "$0" not in summary


def test_cost_is_unknown_only_when_no_reply_had_a_price() -> None:
    assert "cost unknown" in live_line(Stats(done=2, unpriced=2), now=1.0)
    assert "cost unknown" in live_line(Stats(prices_known=False), now=1.0)
    assert "$0.0100+?" in live_line(Stats(done=2, priced=1, unpriced=1, cost=0.01), now=1.0)
    assert live_line(Stats(), now=1.0).endswith("$0")
