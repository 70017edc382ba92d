"""`aimlchat batch` when the server cannot be reached, or does not answer.

A request that surely never left (connection refused, DNS, connect timeout) says nothing
about the item: the batch holds it, stops with exit 4 once enough are held, and records
nothing for them, so the rerun asks them. A request that may have reached the server and
got no answer (a timeout after it was sent, a connection dropped unanswered) may have
been billed: it is that item's error record at once (exit_code 4), the batch goes on, a
rerun skips it and only --retry-errors asks it again. Also: a cost that cannot be known
is said to be unknown, not $0."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

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


def _errors(out: Path) -> list[dict[str, Any]]:
    return [r["error"] for r in results(out) if r["error"] is not None]


# -- the request never left: an outage, nothing recorded -------------------------------------


def test_a_server_that_refuses_connections_stops_the_batch_with_exit_4_and_records_nothing(
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
    # The error's hint and the resume hint read as two sentences, not one run-on.
    assert "is the server running? Run the same command again to resume" in result.stderr
    assert "items failed" not in result.stderr
    assert "nothing recorded for 3 items" in result.stderr  # all three went out at once

    # One request at a time: the first item that cannot reach the server stops the batch
    # (the next one may already be on its way by then), not the tenth.
    src.write_text("".join(f"prompt {i}\n" for i in range(10)))
    single = invoke(["batch", str(src), "-o", str(out), "--retries", "0", "-j", "1"], env)
    assert single.returncode == 4 and out.read_text() == ""
    unrecorded = re.search(r"nothing recorded for (\d+) item", single.stderr)
    assert unrecorded is not None and int(unrecorded[1]) <= 2


def test_a_server_that_goes_down_mid_run_stops_with_exit_4_and_the_rerun_finishes(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    port = server.server_address[1]
    down = threading.Event()
    lock = threading.Lock()

    def going_down(number: int, prompt: str) -> bool:
        with lock:  # no request is dropped before new connections are refused
            if number > 6 and not down.is_set():
                # Refuse new connections at once (none accepted while the loop winds down),
                # then stop the accept loop, which runs in another thread than this handler.
                server.socket.shutdown(socket.SHUT_RDWR)
                down.set()
                server.shutdown()
                server.server_close()
            return down.is_set()  # and a request on a kept-alive connection is dropped

    server.script = dropping(script, going_down)
    src = write_prompts(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "2", "--retries", "0"]
    result = invoke(args, cli_env)
    assert result.returncode == 4, result.stderr
    assert "cannot reach the server (connection refused" in result.stderr
    unrecorded = re.search(r"nothing recorded for (\d+) item", result.stderr)
    assert unrecorded is not None
    assert len([r for r in results(out) if r["error"] is None]) == 6
    # The requests the server dropped as it went down may have been billed: recorded;
    # the refused ones are not. It stopped after a few refusals, far from all 24.
    dropped = _errors(out)
    assert dropped and all(
        e["exit_code"] == 4 and "may have been billed" in e["message"] for e in dropped
    )
    assert len(results(out)) + int(unrecorded[1]) < 20

    back = LoopbackServer(port).start()  # the server is back: the rerun asks the rest
    try:
        back.script = BatchScript(delay=0.02)
        again = invoke([*args, "--retry-errors"], cli_env)
        assert again.returncode == 0, again.stderr
        assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 31))
        assert len(back.chat_bodies()) == 30 - 6  # once each, the successes not again
    finally:
        back.stop()


# -- the request may have reached the server: that item's error record -----------------------


def test_a_slow_server_gives_each_item_one_request_and_an_error_record_that_may_be_billed(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay = 3.0  # the headers come long after --timeout
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "3", "--retries", "2"]
    result = invoke([*args, "--timeout", "0.3"], cli_env)
    assert result.returncode == 1, result.stderr
    assert script.count == 3  # counted at the server: never sent twice, --retries or not
    assert "cannot reach the server" not in result.stderr
    assert "3 of 3 items failed" in result.stderr and "may have been billed" in result.stderr
    assert sorted(ids(out)) == ["q1", "q2", "q3"]
    for error in _errors(out):
        assert error["exit_code"] == 4 and error["status"] is None
        assert "within 0.3s after the request was sent" in error["message"]
        assert "may have been billed" in error["message"]

    rerun = invoke([*args, "--timeout", "0.3"], cli_env)
    assert rerun.returncode == 1, rerun.stderr
    assert script.count == 3  # a rerun does not pay for them again
    assert "holds 3 error records from an earlier run" in rerun.stderr

    script.delay = 0.02  # the user asks for them again, explicitly
    retried = invoke([*args, "--retry-errors"], cli_env)
    assert retried.returncode == 0, retried.stderr
    assert script.count == 6
    assert sorted(ids(out)) == ["q1", "q2", "q3"] and not _errors(out)


def test_a_server_that_drops_connections_unanswered_gets_error_records_not_an_outage(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    # It accepted every request and answered none after the sixth: each may be billed.
    server.script = dropping(script, lambda number, prompt: number > 6)
    src = write_prompts(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "2", "--retries", "2"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    assert "cannot reach the server" not in result.stderr
    assert "24 of 30 items failed" in result.stderr
    assert len(server.chat_bodies()) == 30  # once each, --retries notwithstanding
    errors = _errors(out)
    assert len(errors) == 24
    assert all(e["exit_code"] == 4 and e["status"] is None for e in errors)
    assert all("may have been billed" in e["message"] for e in errors)

    server.script = script  # answering again: a rerun still sends nothing for them
    rerun = invoke(args, cli_env)
    assert rerun.returncode == 1 and len(server.chat_bodies()) == 30, rerun.stderr
    retried = invoke([*args, "--retry-errors"], cli_env)
    assert retried.returncode == 0, retried.stderr
    assert len(server.chat_bodies()) == 30 + 24
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 31)) and not _errors(out)


def test_a_connection_dropped_among_successes_is_that_items_error_record(
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
    assert "$0.01+?" in live_line(Stats(done=2, priced=1, unpriced=1, cost=0.01), now=1.0)
    assert live_line(Stats(), now=1.0).endswith("$0.00")


def test_hints_are_joined_as_sentences_not_run_together() -> None:
    from aimlchat.commands.batch import join_hints

    assert join_hints("is the server running?", "run it again") == (
        "is the server running? Run it again"
    )
    assert join_hints("check --base-url", "run it again") == "check --base-url; run it again"
    assert join_hints("run it again") == "run it again"
