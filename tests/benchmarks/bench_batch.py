"""`aimlchat batch` benchmark (not part of the pass/fail run).

    python -m tests.benchmarks.bench_batch            # 1,000 at 100 ms; shell loop; 20k RSS
    python -m tests.benchmarks.bench_batch --quick    # 1,000 at 100 ms; 2k and 5k RSS

Against a loopback server that answers every request after 100 ms:
- 1,000 prompts at --concurrency 16: wall time (process start included) against the
  ideal, items x latency / concurrency;
- the shell loop people write today, `while read l; do aimlchat ask "$l"; done`: 20
  items timed, extrapolated to 1,000 (said so in the output);
- peak RSS of the whole process for 2k/5k/20k prompts (a zero-delay server), to show
  that memory does not grow with the item count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.bench_stream import env_for
from tests.loopback import BatchScript, LoopbackServer

PY = sys.executable
LATENCY = 0.1
CONCURRENCY = 16
SAMPLE = 20


def prompts(path: Path, n: int) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(f'{{"id": "item-{i}", "prompt": "question number {i}, in a few words"}}\n')
    return path


def _hwm_mb(pid: int) -> float | None:
    """The process's own peak RSS (VmHWM), or None where /proc has no answer."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_batch(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, exit status of one `aimlchat batch` run.

    The peak is read from /proc while the child runs: `ru_maxrss` from wait4 also counts
    the parent's image the child was forked from (this process holds the server and its
    log of every request), which would charge the server's memory to the batch."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "aimlchat", "batch", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _hwm_mb(proc.pid) or 0.0)
        time.sleep(0.02)
    wall = time.perf_counter() - began
    return wall, peak, proc.returncode


def shell_loop(src: Path, env: dict[str, str], n: int) -> float:
    """Seconds for the first `n` lines through `while read; do aimlchat ask; done`."""
    # `< /dev/null`: otherwise the first `ask` reads the rest of the loop's input as context.
    loop = (
        f'head -n {n} "$1" | while IFS= read -r line; do '
        f'{PY} -m aimlchat ask --no-history "$line" < /dev/null > /dev/null || exit 1; done'
    )
    began = time.perf_counter()
    subprocess.run(["sh", "-c", loop, "sh", str(src)], env=env, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    server = LoopbackServer().start()
    script = BatchScript(delay=LATENCY)
    server.script = script
    server.nodelay = True
    with tempfile.TemporaryDirectory() as home:
        env = env_for(server, home)
        tmp = Path(home)
        n = 1000
        src = prompts(tmp / "in.jsonl", n)
        wall, rss, status = run_batch([str(src), "-o", str(tmp / "out.jsonl"), "-j", "16"], env)
        ideal = n * LATENCY / CONCURRENCY
        print(
            f"{n} prompts, {LATENCY * 1000:.0f} ms each, -j {CONCURRENCY}: {wall:.2f} s wall "
            f"(exit {status}) vs ideal {ideal:.2f} s = {wall / ideal:.2f}x; peak RSS {rss:.0f} MB"
        )
        if not args.quick:
            asked = len(server.chat_bodies())
            loop = shell_loop(src, env, SAMPLE)
            assert len(server.chat_bodies()) - asked == SAMPLE
            per_item = loop / SAMPLE
            print(
                f"shell loop of `aimlchat ask`: {SAMPLE} items in {loop:.2f} s "
                f"({per_item * 1000:.0f} ms each) -> {n} items ~ {per_item * n:.0f} s "
                f"(extrapolated) = {per_item * n / wall:.0f}x slower than batch"
            )
        script.delay = 0.0
        for big in (2000, 5000) if args.quick else (2000, 5000, 20000):
            src = prompts(tmp / f"in{big}.jsonl", big)
            out = tmp / f"out{big}.jsonl"
            server.requests.clear()
            wall, rss, status = run_batch([str(src), "-o", str(out), "-j", "16"], env)
            print(
                f"{big} prompts, zero-delay server, -j 16: {wall:.1f} s "
                f"({big / wall:.0f}/s, exit {status}), peak RSS {rss:.0f} MB"
            )
    server.stop()


if __name__ == "__main__":
    main()
