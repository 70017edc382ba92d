"""What MCP costs, and that it costs nothing unused (not part of the pass/fail run).

    python -m tests.benchmarks.bench_mcp            # 11 rounds

1. The modules: `--help`, `--version` and a plain piped `ask` with two MCP servers declared
   in config.toml load no module of aimlchat.tools.mcp but its config reader, and no
   module of the official SDK (from `python -X importtime`).
2. Import time: aimlchat's client (every module of aimlchat.tools.mcp) against the SDK's
   client (`mcp.client.session`, `mcp.client.stdio`, `mcp.client.streamable_http`), each
   in a fresh interpreter, medians.
3. Wall time: a plain piped `ask` with MCP servers declared against one without config,
   and an `ask -T NAME` that starts a stdio server built with the SDK (whose own start-up,
   importing the SDK, is most of it), each against the loopback API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.bench_stream import env_for
from tests.loopback import LoopbackServer

PY = sys.executable
SERVER = Path(__file__).resolve().parents[1] / "mcp_servers" / "tools_server.py"
OURS = (
    "import aimlchat.tools.mcp.session, aimlchat.tools.mcp.stdio, aimlchat.tools.mcp.http, "
    "aimlchat.tools.mcp.server, aimlchat.tools.mcp.provider"
)
SDK = "import mcp.client.session, mcp.client.stdio, mcp.client.streamable_http"


def imported(argv: list[str], env: dict[str, str]) -> set[str]:
    """The modules `argv` (a `python -m aimlchat …` command) imports."""
    r = subprocess.run(
        [PY, "-X", "importtime", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    )
    names = set()
    for line in r.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def imported_in(statement: str, env: dict[str, str], *, after: str = "") -> float:
    """Milliseconds `statement` (imports) takes in a fresh interpreter, timed inside it."""
    code = (
        f"import time; {after}\n"
        f"start = time.perf_counter(); {statement}\n"
        "print((time.perf_counter() - start) * 1000)"
    )
    r = subprocess.run([PY, "-c", code], env=env, capture_output=True, check=True)
    return float(r.stdout)


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return (time.perf_counter() - start) * 1000


def median(argv: list[str], env: dict[str, str], rounds: int) -> float:
    wall(argv, env)  # bytecode compiled, caches warm
    return statistics.median(wall(argv, env) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=11)
    rounds = parser.parse_args().rounds
    server = LoopbackServer().start()
    with tempfile.TemporaryDirectory() as home:
        bare = env_for(server, home)
        declared_home = os.path.join(home, "declared")
        env = env_for(server, declared_home)
        config = Path(env["XDG_CONFIG_HOME"]) / "aimlchat" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(
            f'[mcp.local]\ncommand = ["{PY}", "{SERVER}", "stdio"]\n'
            '[mcp.aiml]\nurl = "https://mcp.aimlapi.com/mcp"\n'
            'headers = { Authorization = "Bearer ${AIML_API_KEY}" }\n'
        )
        cli = [PY, "-m", "aimlchat"]
        print("modules loaded with two MCP servers declared:")
        for name, argv in {
            "--help": ["-m", "aimlchat", "--help"],
            "--version": ["-m", "aimlchat", "--version"],
            "piped ask": ["-m", "aimlchat", "ask", "hi"],
        }.items():
            found = imported(argv, env)
            ours = sorted(m for m in found if m.startswith("aimlchat.tools.mcp"))
            sdk = sorted(m for m in found if m == "mcp" or m.startswith("mcp."))
            print(f"  {name:<10} aimlchat.tools.mcp: {ours or 'none'}; SDK: {len(sdk)} modules")
        print("\nimport time (fresh interpreter, timed inside it, median of", rounds, "runs):")
        ours_ms = statistics.median(
            imported_in(OURS, bare, after="import requests") for _ in range(rounds)
        )
        sdk_ms = statistics.median(imported_in(SDK, bare) for _ in range(rounds))
        print(f"  aimlchat's client  {ours_ms:7.1f} ms  (requests already loaded, as in aimlchat)")
        print(f"  the SDK's client   {sdk_ms:7.1f} ms")
        print("\nwall time, median of", rounds, "runs:")
        plain = median([*cli, "ask", "hi"], bare, rounds)
        with_config = median([*cli, "ask", "hi"], env, rounds)
        started = median([*cli, "ask", "-T", "local", "hi"], env, rounds)
        print(f"  piped ask, no config            {plain:7.1f} ms")
        ratio = with_config / plain
        print(f"  piped ask, MCP servers declared {with_config:7.1f} ms ({ratio:.2f}x)")
        print(f"  ask -T local (SDK stdio server) {started:7.1f} ms")
    server.stop()


if __name__ == "__main__":
    main()
