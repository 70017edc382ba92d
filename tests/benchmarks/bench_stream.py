"""Streaming and startup benchmark (not part of the pass/fail run).

    python -m tests.benchmarks.bench_stream            # full table
    python -m tests.benchmarks.bench_stream --quick    # 1k and 5k only

A loopback server streams N tokens of realistic Markdown (headings, lists, tables,
code fences) at zero delay; the installed CLI runs on a pty and through a pipe.
Reports wall and CPU time, peak RSS, the log-log growth exponent between 5k and 20k
tokens, the CPU of the largest reply on a pty against a ten-line requests script that
prints the same stream there (best of three each), first-visible-token latency, and
startup against typer and requests.
"""

from __future__ import annotations

import argparse
import math
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from tests.loopback import LoopbackServer, Reply, chunk, markdown_reply, sse_reply

PY = sys.executable


def tokens(n: int) -> list[str]:
    text = markdown_reply(n)  # n lines is more than n tokens; cut by tokens below
    pieces = re.findall(r"\S+\s*|\s+", text)
    while len(pieces) < n:
        pieces += pieces
    return pieces[:n]


def env_for(server: LoopbackServer, home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIML_API_KEY="sk-bench",
        AIMLCHAT_BASE_URL=server.base_url,
        HOME=home,
        XDG_DATA_HOME=f"{home}/d",
        XDG_CONFIG_HOME=f"{home}/c",
        XDG_CACHE_HOME=f"{home}/k",
        TERM="xterm-256color",
        COLUMNS="100",
        LINES="40",
    )
    return env


def start(argv: list[str], env: dict[str, str], *, tty: bool) -> tuple[int, int, Any]:
    """Start the CLI with stdout on a pty or a pipe: (pid, fd to read, object to keep)."""
    if tty:
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(argv[0], argv, env)
        return pid, fd, None
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    return proc.pid, proc.stdout.fileno(), proc


def drain(fd: int, on_data: Callable[[bytes], None] = lambda data: None) -> None:
    """Read until EOF (a pty says EIO when the child is gone)."""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        try:
            data = os.read(fd, 65536) if ready else b""
        except OSError:
            data = b""
        if not data:
            return
        on_data(data)


def run(argv: list[str], env: dict[str, str], *, tty: bool) -> dict[str, float]:
    """Run to completion; wall, CPU (user+sys) and peak RSS of the child."""
    began = time.perf_counter()
    pid, fd, _keep = start(argv, env, tty=tty)
    drain(fd)
    _, _status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - began
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def first_token_latency(server: LoopbackServer, env: dict[str, str], *, tty: bool) -> float:
    """ms from the server sending the first delta (after a 0.5 s pause) to it being readable."""
    server.push(
        Reply(events=[chunk("FIRSTTOKEN"), *sse_reply(["x"] * 5)], first_delay=0.5, delay=0.2)
    )
    server.sent.clear()
    pid, fd, _keep = start([PY, "-m", "aimlchat", "ask", "hi"], env, tty=tty)
    seen = bytearray()
    got_at: list[float] = []

    def on_data(data: bytes) -> None:
        seen.extend(data)
        if b"FIRSTTOKEN" in seen and not got_at:
            got_at.append(time.monotonic())

    drain(fd, on_data)
    os.waitpid(pid, 0)
    sent_at = next(t for t, data in server.sent if b"FIRSTTOKEN" in data)
    return (got_at[0] - sent_at) * 1000


def best_wall(argv: list[str], env: dict[str, str], n: int = 7) -> float:
    return min(run(argv, env, tty=False)["wall"] for _ in range(n))


def pty_cpu(server: LoopbackServer, argv: list[str], env: dict[str, str], n: int) -> float:
    """CPU seconds for a program to show an n-token Markdown stream on a pty."""
    server.push(Reply(events=sse_reply(tokens(n))))
    return run(argv, env, tty=True)["cpu"]


# The floor to compare with: the same stream printed by the plainest possible client.
REQUESTS_SCRIPT = """
import json, os, sys, requests
r = requests.post(os.environ["AIMLCHAT_BASE_URL"] + "/chat/completions",
    headers={"Authorization": "Bearer " + os.environ["AIML_API_KEY"]},
    json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    stream=True)
for line in r.iter_lines():
    if line.startswith(b"data: ") and line != b"data: [DONE]":
        for c in json.loads(line[6:])["choices"]:
            sys.stdout.write(c["delta"].get("content") or ""); sys.stdout.flush()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1000, 5000] if args.quick else [1000, 5000, 20000]
    server = LoopbackServer().start()
    rows: list[tuple[Any, ...]] = []
    with tempfile.TemporaryDirectory() as home:
        env = env_for(server, home)
        argv = [PY, "-m", "aimlchat", "ask", "--no-history", "hi"]
        cpu: dict[tuple[str, int], float] = {}
        for n in sizes:
            for tty in (True, False):
                server.push(Reply(events=sse_reply(tokens(n))))
                m = run(argv, env, tty=tty)
                where = "pty" if tty else "pipe"
                cpu[(where, n)] = m["cpu"]
                rows.append(
                    (
                        f"{n:>6} tokens, {where}",
                        f"{m['wall']:.2f} s wall",
                        f"{m['cpu']:.2f} s CPU",
                        f"{m['rss_mb']:.0f} MB RSS",
                    )
                )
        for row in rows:
            print("  ".join(row))
        if 20000 in sizes:
            for where in ("pty", "pipe"):
                k = math.log(cpu[(where, 20000)] / cpu[(where, 5000)]) / math.log(4)
                print(f"growth exponent 5k→20k ({where}): {k:.2f}")
        script = os.path.join(home, "plain.py")
        with open(script, "w") as fh:
            fh.write(REQUESTS_SCRIPT)
        n = sizes[-1]
        ours = min(cpu[("pty", n)], *(pty_cpu(server, argv, env, n) for _ in range(2)))
        base = min(pty_cpu(server, [PY, script], env, n) for _ in range(3))
        print(
            f"{n} tokens on a pty: ask {ours:.2f} s CPU vs requests script {base:.2f} s CPU "
            f"= {ours / base:.2f}x"
        )
        for tty in (False, True):
            lat = sorted(first_token_latency(server, env, tty=tty) for _ in range(5))
            print(f"first visible token ({'pty' if tty else 'pipe'}): median {lat[2]:.2f} ms")
        typer_t = best_wall([PY, "-c", "import typer"], env)
        help_t = best_wall([PY, "-m", "aimlchat", "--help"], env)
        print(
            f"--help {help_t * 1000:.0f} ms vs import typer {typer_t * 1000:.0f} ms "
            f"= {help_t / typer_t:.2f}x"
        )
        ask_t = best_wall(argv, env)
        req_t = best_wall([PY, script], env)
        print(
            f"piped ask {ask_t * 1000:.0f} ms vs requests script {req_t * 1000:.0f} ms "
            f"= {ask_t / req_t:.2f}x"
        )
    server.stop()


if __name__ == "__main__":
    main()
