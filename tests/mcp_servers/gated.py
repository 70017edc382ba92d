"""The SDK's tools server (tools_server.py) behind a gate, for tests of how servers start.

Run as `gated.py NAME`. It appends its pid to `$GATED_DIR/NAME.pid` at once, then waits
before serving: until `$GATED_DIR/go` exists (GATED_GATE=1: a server slow to start, or
one that hangs until the test lets it go), and until `$GATED_BARRIER` servers have
written their pid (a start that only ends if the others started meanwhile: proof that
they start together). It gives up after GIVE_UP seconds, exiting 1.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

GIVE_UP = 60.0


def _wait(ready: object) -> None:
    end = time.monotonic() + GIVE_UP
    while not ready():  # type: ignore[operator]
        if time.monotonic() > end:
            print("gated: gave up waiting", file=sys.stderr, flush=True)
            sys.exit(1)
        time.sleep(0.02)


def main(name: str) -> None:
    folder = Path(os.environ["GATED_DIR"])
    with open(folder / f"{name}.pid", "a") as f:
        f.write(f"{os.getpid()}\n")
    if os.environ.get("GATED_GATE"):
        _wait((folder / "go").exists)
    count = int(os.environ.get("GATED_BARRIER") or 0)
    if count:
        _wait(lambda: len(list(folder.glob("*.pid"))) >= count)
    sys.path.insert(0, str(Path(__file__).parent))
    import tools_server

    tools_server.main(["stdio"])


if __name__ == "__main__":
    main(sys.argv[1])
