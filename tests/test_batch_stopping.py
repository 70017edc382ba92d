"""`aimlchat batch` while it waits or stops: the progress line during a shared rate-limit
pause, and the exact count of requests a second Ctrl-C leaves unfinished."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from aimlchat.batch.gate import RateGate
from aimlchat.batch.progress import Stats, live_line
from tests.batch_helpers import write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer

# -- "paused (rate limit)" ------------------------------------------------------------------


def test_the_gate_says_it_is_paused_until_the_pause_is_over() -> None:
    now = [0.0]
    gate = RateGate(4, clock=lambda: now[0], rand=lambda: 0.0)
    assert not gate.paused
    gate.rate_limited(gate.acquire(), 2.0)
    assert gate.paused
    now[0] = 2.5
    assert not gate.paused


def test_the_progress_line_says_paused_during_a_rate_limit_pause() -> None:
    stats = Stats(total=10, done=3, started=0.0)
    assert "paused (rate limit)" not in live_line(stats, now=1.0)
    stats.paused = True
    assert "paused (rate limit)" in live_line(stats, now=1.0)


def test_a_batch_on_a_terminal_shows_the_pause_then_takes_it_away(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    script = BatchScript(delay=0.0)
    script.storm_at, script.storm_size, script.retry_after = 3, 2, "1"
    server.script = script
    src = write_prompts(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "-j", "2"], cli_env, stderr_tty=True)
    assert result.returncode == 0, result.stderr
    drawn = [part for part in result.stderr.split("\r") if " · " in part]
    paused = [i for i, line in enumerate(drawn) if "paused (rate limit)" in line]
    assert paused, result.stderr
    assert any("paused" not in line for line in drawn[paused[-1] + 1 :])


# -- a second Ctrl-C: the count of dropped requests --------------------------------------------


def test_a_second_ctrl_c_counts_exactly_the_requests_in_flight(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    script = BatchScript(delay=0.0)
    script.delay_for = lambda prompt: 0.0 if prompt in ("prompt 1", "prompt 2") else 30.0
    server.script = script
    src = write_prompts(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "batch", str(src), "-o", str(out), "-j", "4"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    # Items 1 and 2 answered, 3 to 6 on their way (4 workers); more read and queued.
    while len(server.chat_bodies()) < 6 or out.read_bytes().count(b"\n") < 2:
        assert proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    seen = b""
    while b"stopping:" not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(10)
    text = (seen + rest).decode()
    assert proc.returncode == 130, text
    assert re.search(r"interrupted: 2 results written to \S+; 4 unfinished requests dropped", text)
    assert len(server.chat_bodies()) == 6
