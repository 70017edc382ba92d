"""What servers taught us, remembered per base URL and model for the next process.

One small JSON file per fact in the cache folder, `{"BASE_URL": {"MODEL": VALUE}}`:
the context window a server stated (chat.window_memory), the API shape a model answers
on (api.route). Keyed by base URL (without a trailing "/", as the client sends it), so
a proxy in front of the same models (LiteLLM) learns for itself. It is a cache: a file
that cannot be read or written, or holds something else, is the same as no file, never
an error.

Parallel runs (batch, several shells) each add what they learned: a change is read,
merged and written back under a lock on a `.lock` file beside it (osplatform's flock;
where there is no lock, unlocked, as before), and written whole and atomically (0600 in
a 0700 folder), so a reader never needs the lock and never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# How long a change waits for another process's (a write of a few hundred bytes) before
# it goes ahead unlocked: a lost entry is learned again, a hung command is worse.
LOCK_WAIT = 5.0
_POLL = 0.005


def key(base_url: str) -> str:
    """The file's key for a server: `https://host/v1/` and `https://host/v1` are one."""
    return base_url.rstrip("/")


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(path: Path, base_url: str, model: str) -> Any:
    """The value remembered for `model` on the server at `base_url`, or None; the caller
    checks its type (the file is anyone's to edit)."""
    data = _load(path)
    for name in (key(base_url), key(base_url) + "/"):  # an older file kept the "/"
        models = data.get(name)
        if isinstance(models, dict) and model in models:
            return models[model]
    return None


def remember(path: Path, base_url: str, model: str, value: Any) -> bool:
    """Keep `value` for `model` on `base_url`; whether it is kept (best effort: a cache)."""

    def change(models: dict[str, Any]) -> None:
        models[model] = value

    return _update(path, base_url, change)


def forget(path: Path, base_url: str, model: str) -> bool:
    """Drop what is remembered for `model` on `base_url`; whether the file now lacks it."""

    def change(models: dict[str, Any]) -> None:
        models.pop(model, None)

    return _update(path, base_url, change)


def _update(path: Path, base_url: str, change: Callable[[dict[str, Any]], None]) -> bool:
    """Read, change and write back the file, under its lock."""
    from aimlchat.fsutil import atomic_write

    try:
        with _locked(path):
            data = _load(path)
            before = json.dumps(data, sort_keys=True)
            models = data.get(key(base_url))
            if not isinstance(models, dict):
                models = {}
            old = data.pop(key(base_url) + "/", None)  # the same server, kept with its "/"
            if isinstance(old, dict):
                models = {**old, **models}
            change(models)
            if models:
                data[key(base_url)] = models
            else:
                data.pop(key(base_url), None)
            if json.dumps(data, sort_keys=True) == before:
                return True
            atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    except OSError:  # a read-only cache folder: learn again next time
        return False
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the lock on `path`'s `.lock` file (a file of its own: the data file is
    replaced, so a lock on it would guard a file nobody reads any more)."""
    from aimlchat.fsutil import private_file
    from aimlchat.osplatform import lock_exclusive

    lock = private_file(path.with_name(path.name + ".lock"))
    fd = os.open(lock, os.O_RDWR)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        # flock is released when fd is closed, or when its process dies: never stale.
        while not lock_exclusive(fd) and time.monotonic() < deadline:
            time.sleep(_POLL)  # another process is writing; it takes a moment
        yield
    finally:
        os.close(fd)
