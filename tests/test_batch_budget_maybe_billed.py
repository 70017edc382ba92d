"""`aimlchat batch --max-cost` and requests that may have been billed (sent, no answer
within --timeout): each counts its worst case against the budget — the estimated prompt
at the input price plus the most the reply could have been (max_tokens, else the
catalogue's output max, else the context window) at the output price. With no bound, the
batch stops at the first such item. The spend they make uncertain is never shown as $0."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from aimlchat.batch.progress import Stats, live_line, summary
from tests.batch_helpers import ids, results, write_prompts
from tests.conftest import invoke
from tests.loopback import MODELS, BatchScript, LoopbackServer, Reply

TIMEOUT = "0.3"
SLOW = 5.0  # the headers come long after --timeout: every request may be billed


@pytest.fixture
def script(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> BatchScript:
    s = BatchScript(delay=SLOW)
    server.script = s
    # The client gives up before the slow answer: its write fails, which says nothing here.
    monkeypatch.setattr(server, "handle_error", lambda request, address: None)
    return s


def _summary(stderr: str) -> str:
    return next(line.split(": ", 1)[1] for line in stderr.splitlines() if ": batch: " in line)


def _unbounded_catalogue() -> dict[str, Any]:
    """The loopback catalogue plus a priced model whose card gives no output max and no
    context window."""
    models = copy.deepcopy(MODELS)
    model = copy.deepcopy(next(m for m in models["data"] if m["id"] == "openai/gpt-4o"))
    model.update(id="acme/no-limits", aliases=[], info={"name": "No Limits"})
    models["data"].append(model)
    return models


def test_maybe_billed_requests_count_their_worst_case_and_trip_the_budget(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    # gpt-4o: $2.5/M in, $10/M out. --max-tokens 1000 bounds each reply at $0.01; with
    # the prompt's share, each unanswered request counts a little over $0.01, so the
    # third one reaches $0.025.
    src = write_prompts(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "1", "-m", "openai/gpt-4o"]
    args += ["--max-tokens", "1000", "--timeout", TIMEOUT, "--max-cost", "0.025"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    # The third reaches it, and its worker closes the gate before it takes another item.
    assert script.count == 3
    assert len(ids(out)) == script.count
    assert all("may have been billed" in r["error"]["message"] for r in results(out))
    assert "--max-cost $0.025 reached" in result.stderr
    assert "may have been billed" in result.stderr
    said = _summary(result.stderr)
    assert "cost unknown" in said and "$0" not in said


def test_the_catalogue_output_max_bounds_a_request_without_max_tokens(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    # Without --max-tokens, gpt-4o's outputMax (16,384 at $10/M: $0.164) is the bound.
    src = write_prompts(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "1", "-m", "openai/gpt-4o"]
    args += ["--timeout", TIMEOUT, "--max-cost", "0.3"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    assert script.count == 2, result.stderr
    assert "--max-cost $0.30 reached" in result.stderr


def test_without_a_bound_the_batch_stops_at_the_first_maybe_billed_item(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.models_reply = Reply(body=_unbounded_catalogue())
    src = write_prompts(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "1", "-m", "acme/no-limits"]
    result = invoke([*args, "--timeout", TIMEOUT, "--max-cost", "100"], cli_env)
    assert result.returncode == 1, result.stderr
    assert script.count == 1, result.stderr
    assert len(ids(out)) == script.count
    lines = [line for line in result.stderr.splitlines() if "no upper bound" in line]
    assert len(lines) == 1 and "acme/no-limits" in lines[0] and "--max-tokens" in result.stderr
    assert "the other items were not asked" in result.stderr


def test_with_j_the_budget_is_passed_by_the_other_requests_in_flight_at_most(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "3", "-m", "openai/gpt-4o", "--ordered"]
    args += ["--max-tokens", "1000", "--timeout", TIMEOUT, "--max-cost", "0.025"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    # The third to end reaches it; the two others out at that moment may still end.
    assert 3 <= script.count <= 3 + 2, result.stderr
    assert len(ids(out)) == script.count


def test_max_tokens_gives_a_bound_where_the_catalogue_has_none(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    server.models_reply = Reply(body=_unbounded_catalogue())
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-j", "1", "-m", "acme/no-limits"]
    args += ["--max-completion-tokens", "100", "--timeout", TIMEOUT, "--max-cost", "100"]
    result = invoke(args, cli_env)
    assert result.returncode == 1, result.stderr
    assert script.count == 3 and "no upper bound" not in result.stderr
    assert "3 of 3 items failed" in result.stderr


def test_the_summary_never_says_0_dollars_when_requests_may_have_been_billed(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 3)
    args = ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "-j", "3"]
    result = invoke([*args, "--timeout", TIMEOUT], cli_env)
    assert result.returncode == 1, result.stderr
    said = _summary(result.stderr)
    assert "cost unknown" in said and "$0" not in said


def test_replies_with_a_price_and_maybe_billed_requests_show_a_cost_plus_unknown(
    tmp_path: Path, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay_for = lambda prompt: SLOW if prompt == "prompt 2" else 0.0
    src = write_prompts(tmp_path / "in.jsonl", 3)
    args = ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "-j", "3"]
    result = invoke([*args, "--timeout", TIMEOUT], cli_env)
    assert result.returncode == 1, result.stderr
    said = _summary(result.stderr)
    assert said.endswith("+?") and "$0.0000" in said, said


def test_the_progress_line_marks_maybe_billed_spend_as_uncertain() -> None:
    assert "cost unknown" in live_line(Stats(done=2, errors=2, maybe_billed=2), now=1.0)
    mixed = Stats(done=2, errors=1, maybe_billed=1, priced=1, cost=0.12)
    assert live_line(mixed, now=1.0).endswith("$0.12+?")
    assert summary(mixed, now=1.0).endswith("$0.12+?")


def test_a_request_that_got_no_answer_is_no_proof_the_server_is_there() -> None:
    """A refused item is held until a request sent after it gets an HTTP answer; one
    dropped unanswered (the server going down) releases nothing. Scripted results, since
    a real server cannot refuse one connection and take the next on cue."""
    import io

    from aimlchat.batch.gate import RateGate
    from aimlchat.batch.progress import Progress
    from aimlchat.batch.records import Record
    from aimlchat.batch.request import Unanswered
    from aimlchat.batch.runner import Runner, StopFlag
    from aimlchat.batch.scheduler import Done, Job
    from aimlchat.errors import NetworkError
    from aimlchat.terminal.environment import Environment

    def work(job: Job) -> Done:
        if job.seq == 0:  # refused: surely never sent
            error: NetworkError = NetworkError("connection refused", unsent=True)
            return Done(job, error=error, sent=1.0, ended=1.1)
        deadline = time.monotonic() + 10
        while not runner._held and time.monotonic() < deadline:  # the refusal is held
            time.sleep(0.005)
        dropped = Unanswered(NetworkError("the connection broke before an answer"), None)
        return Done(job, error=dropped, sent=2.0, ended=3.0)

    class Lines:
        shares_terminal = False

        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, line: str) -> None:
            self.lines.append(line)

        def tick(self) -> None:
            pass

    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    stats = Stats()
    writer = Lines()
    records = iter([Record(id=1, prompt="a", line=1), Record(id=2, prompt="b", line=2)])
    runner = Runner(
        records=records, work=work, gate=RateGate(2), concurrency=2, ordered=True,
        writer=writer, progress=Progress(env, stats, lambda: 0.0), model_of=lambda r: "m",
        flag=StopFlag(),
    )  # fmt: skip
    ending = runner.run()
    assert len(writer.lines) == 1 and '"id": 2' in writer.lines[0]
    assert ending.reason == "unreachable" and ending.unrecorded == 1
