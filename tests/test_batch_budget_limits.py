"""`aimlchat batch` budgets at their edges: an item with no worst case runs alone (so
-j cannot multiply the overshoot), a limit reached by the last item stops nothing, a
worker's unexpected error stops the batch instead of hanging it, the day's spend is
read from history sparingly, and a history that opens only without its WAL counts as
unreadable."""

from __future__ import annotations

import copy
import itertools
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invocation, invoke
from tests.loopback import MODELS, BatchScript, LoopbackServer, Reply

CHARGE = 0.001  # every reply's exact charge here


def _jsonl(n: int) -> str:
    return "".join(json.dumps({"id": i, "prompt": f"p{i}"}) + "\n" for i in range(1, n + 1))


def _charging(server: LoopbackServer, delay: float = 0.0) -> BatchScript:
    server.charges = "top"
    server.charge_usd = CHARGE
    script = BatchScript(delay=delay)
    server.script = script
    return script


def _config(home: Path, text: str) -> None:
    path = home / "config" / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    path.write_text(text + "\n" + old)


def _unlimited_catalogue(server: LoopbackServer, env: dict[str, str]) -> None:
    """The default model priced, but with neither an output max nor a context window:
    without --max-tokens an item's worst case is unknown."""
    models: dict[str, Any] = copy.deepcopy(MODELS)
    info = models["data"][0]["info"]
    del info["contextLength"], info["outputMax"]
    server.models_reply = Reply(body=models)
    assert invoke(["models"], env).returncode == 0


def test_items_without_a_worst_case_run_alone_so_j_does_not_multiply_the_overshoot(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    _unlimited_catalogue(server, cli_env)
    _charging(server, delay=0.2)  # long enough that six workers would all be out
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(8))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "6", "--max-cost", "0.0015"], cli_env)
    assert r.returncode == 1, r.stderr
    # One at a time: the first leaves room, the second passes the limit, by one request.
    assert len(server.chat_bodies()) == 2
    assert "--max-cost $0.0015 reached ($0.002 spent)" in r.stderr
    assert len(out.read_text().splitlines()) == 2


def test_a_worst_case_that_cannot_be_computed_also_runs_alone(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], monkeypatch: Any
) -> None:
    from aimlchat.batch.request import Requester

    def broken(self: Requester, request: Any) -> float | None:
        raise ValueError("no estimate")

    monkeypatch.setattr(Requester, "worst_case", broken)
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server, delay=0.2)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(8))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "6", "--max-cost", "0.0015"], cli_env)
    assert r.returncode == 1, r.stderr
    assert len(server.chat_bodies()) == 2


@pytest.mark.parametrize("limit", ["--max-cost", "--max-cost-per-day"])
def test_a_limit_reached_by_the_last_item_stops_nothing(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], limit: str
) -> None:
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(3))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "1", limit, "0.003"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "not asked" not in r.stderr
    assert len(out.read_text().splitlines()) == 3
    # One more item, and the same limit does stop it.
    src.write_text(_jsonl(4))
    again = invoke(["batch", str(src), "-o", str(tmp_path / "o2.jsonl"), "-j", "1", limit, "0.003"],
                   cli_env)  # fmt: skip
    assert again.returncode == 1, again.stderr
    assert "3 results written" in again.stderr and "not asked" in again.stderr


def _in_thread(args: list[str], env: dict[str, str]) -> Invocation:
    """invoke(), guarded: a batch that hangs fails the test instead of the whole run."""
    result: list[Invocation] = []
    thread = threading.Thread(target=lambda: result.append(invoke(args, env)), daemon=True)
    thread.start()
    thread.join(60)
    assert result, "the batch hung"
    return result[0]


def test_an_unexpected_error_in_a_worker_stops_the_batch_instead_of_hanging(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], monkeypatch: Any
) -> None:
    from aimlchat.batch.gate import RateGate

    acquire = RateGate.acquire
    calls = {"n": 0}

    def flaky(self: RateGate) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("a bug in the gate")
        return acquire(self)

    monkeypatch.setattr(RateGate, "acquire", flaky)
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(4))
    r = _in_thread(["batch", str(src), "-o", str(out), "-j", "1", "--max-cost", "1"], cli_env)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "a bug in the gate" in r.stderr


def test_an_unexpected_error_charging_an_item_stops_the_batch_instead_of_hanging(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], monkeypatch: Any
) -> None:
    from aimlchat.batch.budget import Budget

    def broken(self: Budget, done: Any) -> Any:
        raise RuntimeError("a bug in the budget")

    monkeypatch.setattr(Budget, "charge", broken)
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(4))
    r = _in_thread(["batch", str(src), "-o", str(out), "-j", "2", "--max-cost", "1"], cli_env)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "a bug in the budget" in r.stderr
    assert len(server.chat_bodies()) <= 2  # nothing started once it failed


def test_the_days_spend_is_read_at_most_once_a_second_by_all_workers(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], home: Path, monkeypatch: Any
) -> None:
    from aimlchat.storage import spend
    from aimlchat.storage.store import Store

    reads: list[float] = []
    day_spent = spend.day_spent

    def counted(db: sqlite3.Connection, since: float, until: float | None = None) -> float:
        reads.append(time.monotonic())
        return day_spent(db, since, until)

    monkeypatch.setattr(spend, "day_spent", counted)
    Store(home / "data" / "aimlchat" / "history.db").close()  # a history to read
    _config(home, "max_cost_per_day = 1")
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(_jsonl(40))
    r = invoke(["batch", str(src), "-o", str(out), "-j", "4"], cli_env)
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 40
    # Read as the batch began, then once a second at most (not before each item, nor
    # after each): 40 items, not 80 reads.
    assert reads
    assert all(b - a >= 0.99 for a, b in itertools.pairwise(reads))


def test_a_history_that_opens_only_without_its_wal_counts_as_unreadable(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], home: Path
) -> None:
    """In a read-only folder without its -shm file, history opens only `immutable=1`,
    which would read it without its WAL: the day counts this batch's spend instead."""
    from aimlchat.storage.store import Store
    from tests.test_read_only_history import _can_mount, read_only

    data = home / "data"
    Store(data / "aimlchat" / "history.db").close()  # closed cleanly: no -wal, no -shm
    if not _can_mount(data):
        pytest.skip("cannot bind-mount read-only here (needs root or a user namespace)")
    assert invoke(["models"], cli_env).returncode == 0
    _charging(server)
    src = tmp_path / "in.jsonl"
    src.write_text(_jsonl(2))
    out = tmp_path / "out.jsonl"
    r = read_only(["batch", str(src), "-o", str(out), "--max-cost-per-day", "1"], cli_env, data)
    assert r.returncode == 0, r.stderr
    assert "max_cost_per_day counts this batch only" in r.stderr
    assert "cannot read the history database" in r.stderr
