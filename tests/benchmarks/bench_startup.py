"""Start-up benchmark (not part of the pass/fail run).

    python -m tests.benchmarks.bench_startup            # 21 rounds
    python -m tests.benchmarks.bench_startup --rounds 41

Each round runs every command once, in turn, so a burst of load on the machine hits them
all alike; the table gives each one's median wall time and its ratio to its baseline:
`--help` and `--version` against `python -c "import typer"`, and a piped `ask` (with
history, and with `--no-history`) against a bare requests script printing the same reply;
in wall time and in the child's CPU time (user + sys), which a busy machine disturbs less.
`python -X importtime` says where the time goes; this says how much there is.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from tests.benchmarks.bench_stream import REQUESTS_SCRIPT, env_for
from tests.loopback import LoopbackServer

PY = sys.executable


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time, and the child's CPU time (user + sys): steadier on a noisy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    server = LoopbackServer().start()
    with tempfile.TemporaryDirectory() as home:
        env = env_for(server, home)
        # As most users run it: folders from HOME (platformdirs), and bytecode cached.
        for var in (
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
            "PYTHONDONTWRITEBYTECODE",
        ):
            env.pop(var, None)
        script = os.path.join(home, "plain.py")
        with open(script, "w") as fh:
            fh.write(REQUESTS_SCRIPT)
        # The console script when installed (as a user runs it), else the module.
        exe = os.path.join(os.path.dirname(PY), "aimlchat")
        cli = [exe] if os.path.exists(exe) else [PY, "-m", "aimlchat"]
        commands = {
            "import typer": [PY, "-c", "import typer"],
            "--help": [*cli, "--help"],
            "--version": [*cli, "--version"],
            "requests script": [PY, script],
            "piped ask": [*cli, "ask", "hi"],
            "piped ask --no-history": [*cli, "ask", "--no-history", "hi"],
        }
        for argv in commands.values():  # warm the caches and compile bytecode
            run(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                elapsed, cpu = run(argv, env)
                walls[name].append(elapsed)
                cpus[name].append(cpu)
    server.stop()
    median = {name: statistics.median(ts) * 1000 for name, ts in walls.items()}
    cpu_median = {name: statistics.median(ts) * 1000 for name, ts in cpus.items()}
    base = {
        "--help": "import typer",
        "--version": "import typer",
        "piped ask": "requests script",
        "piped ask --no-history": "requests script",
    }
    print(f"{'':<24} {'wall':>9}  {'':<8} {'CPU':>9}")
    for name, ms in median.items():
        cpu = cpu_median[name]
        if name in base:
            ratios = (ms / median[base[name]], cpu / cpu_median[base[name]])
            said = f"{ratios[0]:5.2f}x   {cpu:6.1f} ms {ratios[1]:5.2f}x  of {base[name]}"
        else:
            said = f"{'':<8} {cpu:6.1f} ms"
        print(f"{name:<24} {ms:6.1f} ms {said}")


if __name__ == "__main__":
    main()
