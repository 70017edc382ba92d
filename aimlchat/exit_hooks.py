"""What must be done however the process ends: a process-wide list of callables.

Whatever starts something that outlives a command's own code (an MCP server's process
group, an HTTP session to DELETE) registers its stop here. `main` runs the hooks on its
way out, whatever ended the run; `atexit` is the backstop for an exit that skips `main`
(a test calling a command directly, `sys.exit` from a thread's callback). Each hook runs
once, last registered first, and a failing hook does not keep the others from running.
Nothing is imported here: the hooks are plain callables, so `--help` pays for nothing.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

_hooks: list[Callable[[], object]] = []
_lock = threading.Lock()
_atexit_registered = False


def on_exit(fn: Callable[[], object]) -> None:
    """Run `fn` when the process ends (or when `run` is next called)."""
    global _atexit_registered
    with _lock:
        _hooks.append(fn)
        if not _atexit_registered:
            atexit.register(run)
            _atexit_registered = True


def run() -> None:
    """Run every registered hook once, last registered first; forget them after. What a
    hook raises is swallowed, a Ctrl-C in it too: the others still run, and the exit
    status is what the run itself decided."""
    while True:
        with _lock:
            if not _hooks:
                return
            fn = _hooks.pop()
        try:
            fn()
        except BaseException:  # a cleanup must not turn an exit into a traceback
            continue
