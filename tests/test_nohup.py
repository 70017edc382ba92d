"""`nohup aimlchat ask … &` and `nohup aimlchat batch … &` outlive the terminal: a SIGHUP
the process was started ignoring stays ignored, and the run finishes normally (0)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.batch_helpers import results, write_prompts
from tests.loopback import LoopbackServer, Reply, default_reply


def ignore_hangup() -> None:  # what nohup does before it runs the command
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def held_replies(server: LoopbackServer) -> tuple[threading.Event, threading.Event]:
    """Each chat request waits, once it reached the server, until the test releases it."""
    reached, release = threading.Event(), threading.Event()

    def script(request: dict[str, Any]) -> Reply:
        reached.set()
        assert release.wait(30)
        return default_reply(request)

    server.script = script
    return reached, release


def hangup_pending(pid: int) -> bool:
    """SIGHUP sent to `pid` and not yet delivered (an ignored one is never pending)."""
    mask = 1 << (signal.SIGHUP - 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("SigPnd", "ShdPnd") and int(value, 16) & mask:
            return True
    return False


def hang_up(proc: subprocess.Popen[bytes]) -> None:
    """SIGHUP, as a closing terminal sends it; returns once the process has it (handled or
    dropped), so what follows cannot overtake it."""
    proc.send_signal(signal.SIGHUP)
    while proc.poll() is None and hangup_pending(proc.pid):
        time.sleep(0.01)


def popen(args: list[str], env: dict[str, str], preexec_fn: Callable[[], None]) -> Any:
    return subprocess.Popen(
        [sys.executable, "-m", "aimlchat", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=preexec_fn,
    )


def test_ask_started_with_hangup_ignored_finishes_after_a_hangup(cli_env, server):
    reached, release = held_replies(server)
    proc = popen(["ask", "hi"], cli_env, ignore_hangup)
    assert reached.wait(30), "the request never came"
    hang_up(proc)
    release.set()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == b"Hello from the loopback server.\n"


def test_batch_started_with_hangup_ignored_finishes_after_a_hangup(tmp_path, cli_env, server):
    reached, release = held_replies(server)
    src = write_prompts(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    proc = popen(["batch", str(src), "-o", str(out), "-j", "1"], cli_env, ignore_hangup)
    assert reached.wait(30), "the first request never came"
    hang_up(proc)
    release.set()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert [r["id"] for r in results(out)] == ["q1", "q2"]


@pytest.mark.parametrize("command", ["ask", "batch"])
def test_a_hangup_still_ends_a_run_that_did_not_ignore_it(tmp_path, cli_env, server, command):
    reached, release = held_replies(server)
    src = write_prompts(tmp_path / "in.jsonl", 2)
    args = ["ask", "hi"] if command == "ask" else ["batch", str(src), "-o", str(tmp_path / "o")]
    proc = popen(args, cli_env, lambda: None)
    assert reached.wait(30), "the request never came"
    hang_up(proc)
    release.set()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
