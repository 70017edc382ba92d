"""`aimlchat batch` OUT: resume after kill -9 or a signal, a torn last line, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch_helpers import ids, write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer


@pytest.fixture
def script(server: LoopbackServer) -> BatchScript:
    s = BatchScript(delay=0.02)
    server.script = s
    return s


# -- OUT: resume and repair -------------------------------------------------------------------


def test_a_truncated_last_line_in_out_is_repaired(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    done = [{"id": f"q{i}", "text": "old", "error": None} for i in (1, 2, 3)]
    torn = json.dumps({"id": "q4", "text": "cut short", "error": None})[:20]
    out.write_text("".join(json.dumps(r) + "\n" for r in done) + torn)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    assert "torn last line" in result.stderr
    assert sorted(ids(out)) == [f"q{i}" for i in range(1, 7)]
    assert len(server.chat_bodies()) == 3  # q4, q5, q6
    assert "3 already in OUT" in result.stderr


def test_a_resumed_batch_is_not_a_success_while_out_holds_error_records(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "out.jsonl"
    # The first 5 items of IN, 2 of them refused with a 400: what an interrupted run leaves.
    head = write_prompts(tmp_path / "head.jsonl", 5, fail=frozenset({2, 4}))
    assert invoke(["batch", str(head), "-o", str(out)], cli_env).returncode == 1
    src = write_prompts(tmp_path / "in.jsonl", 12, fail=frozenset({2, 4}))
    rerun = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert rerun.returncode == 1, rerun.stderr
    assert "batch: 7 done · 0 errors" in rerun.stderr
    assert "(5 already in OUT, skipped; 2 of them errors)" in rerun.stderr
    assert f"{out} holds 2 error records from an earlier run" in rerun.stderr
    assert "--retry-errors" in rerun.stderr
    # Asking nothing more changes nothing: OUT as a whole decides the exit status.
    assert invoke(["batch", str(src), "-o", str(out)], cli_env).returncode == 1
    assert len(server.chat_bodies()) == 12

    script.fail = ""
    fixed = invoke(["batch", str(src), "-o", str(out), "--retry-errors"], cli_env)
    assert fixed.returncode == 0, fixed.stderr
    assert len(server.chat_bodies()) == 14
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 13))


def test_out_that_is_not_a_batch_result_is_refused(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 2)
    out = tmp_path / "notes.txt"
    out.write_text("my notes\nmore notes\n")
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 2 and "line 1 is not a batch result" in result.stderr
    assert out.read_text() == "my notes\nmore notes\n"


def _popen_batch(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "batch", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_lines(path: Path, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def test_kill_9_mid_run_then_a_rerun_asks_each_item_once(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    script.delay = 0.05
    n, workers = 120, 4
    src = write_prompts(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    proc = _popen_batch([str(src), "-o", str(out), "-j", str(workers)], cli_env)
    _wait_for_lines(out, 30)
    proc.kill()
    proc.wait(10)
    rerun = invoke(["batch", str(src), "-o", str(out), "-j", str(workers)], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    got = ids(out)
    assert sorted(got) == sorted(f"q{i}" for i in range(1, n + 1))  # each exactly once
    repeated = len(server.chat_bodies()) - n
    assert 0 <= repeated <= workers


def test_a_worker_sends_nothing_more_until_its_last_reply_is_written() -> None:
    """A reply received but not yet in OUT is lost to a kill -9 like one in flight, so a
    worker waits for its reply to be written before it sends again: a rerun after kill -9
    asks at most one item per worker again. A slow disk write, scripted, opens the gap
    that a loaded machine opens now and then."""
    import io
    import threading

    from aimlchat.batch.gate import RateGate
    from aimlchat.batch.progress import Progress, Stats
    from aimlchat.batch.records import Record
    from aimlchat.batch.request import Reply
    from aimlchat.batch.runner import Runner, StopFlag
    from aimlchat.batch.scheduler import Done, Job
    from aimlchat.terminal.environment import Environment

    log: list[str] = []
    lock = threading.Lock()

    def work(job: Job) -> Done:
        with lock:
            log.append(f"send {job.seq}")
        return Done(job, reply=Reply("ok", "stop", None, None), sent=1.0)

    class SlowDisk:
        shares_terminal = False

        def write(self, line: str) -> None:
            time.sleep(0.2)
            with lock:
                log.append(f"wrote {json.loads(line)['id']}")

        def tick(self) -> None:
            pass

    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    records = iter([Record(id=i, prompt="p", line=i + 1) for i in range(3)])
    runner = Runner(
        records=records, work=work, gate=RateGate(1), concurrency=1, ordered=False,
        writer=SlowDisk(), progress=Progress(env, Stats(), time.monotonic),
        model_of=lambda r: "m", flag=StopFlag(),
    )  # fmt: skip
    assert runner.run().reason is None
    assert log == ["send 0", "wrote 0", "send 1", "wrote 1", "send 2", "wrote 2"]


@pytest.mark.parametrize(("signum", "code", "word"), [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated"),
    (signal.SIGHUP, 129, "hung up"),
])  # fmt: skip
def test_a_signal_finishes_in_flight_items_and_says_how_to_resume(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    signum: int,
    code: int,
    word: str,
) -> None:
    script.delay = 0.3
    src = write_prompts(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out.jsonl"
    proc = _popen_batch([str(src), "-o", str(out), "-j", "4"], cli_env)
    _wait_for_lines(out, 4)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == code, stderr
    text = stderr.decode()
    assert word in text and "run the same command again to resume" in text
    written = ids(out)  # every line whole
    asked = len(server.chat_bodies())
    assert len(written) == asked  # the requests in flight were let finish and written
    assert len(written) < 60
    rerun = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(ids(out)) == sorted(f"q{i}" for i in range(1, 61))


def test_out_is_written_as_0600_and_resumes_without_asking_again(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str]
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 5, jsonl=False)
    out = tmp_path / "out.jsonl"
    assert invoke(["batch", str(src), "-o", str(out)], cli_env).returncode == 0
    assert os.stat(out).st_mode & 0o777 == 0o600
    again = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert again.returncode == 0 and len(server.chat_bodies()) == 5
    assert sorted(ids(out)) == [1, 2, 3, 4, 5]


def test_a_missing_input_file_is_exit_2_and_creates_no_out(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(tmp_path / "nope.jsonl"), "-o", str(out)], cli_env)
    assert result.returncode == 2 and "no such input file" in result.stderr
    assert not out.exists()
