"""`batch` and a Retry-After longer than the one retry policy waits (api.retry): the
batch stops cleanly, as `ask` refuses at once; a short one pauses every worker."""

from __future__ import annotations

from pathlib import Path

from aimlchat.api.retry import MAX_RETRY_WAIT
from tests.batch_helpers import ids, results, write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer


def test_a_retry_after_beyond_the_policy_stops_the_batch_with_exit_5(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    script = BatchScript(delay=0.0, storm_at=1, storm_size=10**6, retry_after="3600")
    server.script = script
    src = write_prompts(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "-j", "3"], cli_env)
    assert result.returncode == 5, result.stderr
    # Only the requests already on their way when the first answer came: none after it.
    assert 1 <= len(server.chat_bodies()) <= 3
    assert MAX_RETRY_WAIT < 3600
    assert result.stderr.count("the server asks to wait 3600s") == 1
    assert "run the same command again to resume" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or ids(out) == []


def test_requests_in_flight_at_a_long_retry_after_finish_and_are_written(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    # Arrivals 1 and 2 take a while; arrival 3 is told to come back in an hour.
    script = BatchScript(delay=0.5, storm_at=3, storm_size=10**6, retry_after="3600")
    server.script = script
    src = write_prompts(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "-j", "3"], cli_env)
    assert result.returncode == 5, result.stderr
    assert len(server.chat_bodies()) == 3
    assert len(ids(out)) == 2 and all(r["error"] is None for r in results(out))
    assert "2 results written" in result.stderr

    script.storm_at = None  # the hour is over: the rerun asks the other 18, only them
    again = invoke(["batch", str(src), "-o", str(out), "-j", "3"], cli_env)
    assert again.returncode == 0, again.stderr
    assert len(server.chat_bodies()) == 3 + 18
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 21))


def test_a_retry_after_within_the_policy_pauses_and_the_batch_finishes(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    script = BatchScript(delay=0.0, storm_at=2, storm_size=2, retry_after="1")
    server.script = script
    src = write_prompts(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "-j", "2"], cli_env)
    assert result.returncode == 0, result.stderr
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 7))
    assert len(server.chat_bodies()) == 6 + 2
    first = script.rate_limited_at[0]
    arrivals = [r["time"] for r in server.requests if r["path"].endswith("/completions")]
    # After the first 429 only a request already on its way lands within the second.
    assert len([t for t in arrivals if first < t < first + 0.95]) <= 1
