"""OUT: one JSON line per finished item, appended whole, durable within a second.

Opening an existing OUT is what makes a batch resumable: its ids are read (memory is
O(ids), never O(text)) so a rerun skips them; a last line cut short by a crash is cut
off (a prefix of a JSON object never parses, so a torn record cannot pass for a whole
one); `--retry-errors` rewrites the file without its error records, atomically, so every
id still appears once. An exclusive lock stops two runs from appending to one file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimlchat.batch.records import id_key, valid_id
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.fsutil import fsync_dir
from aimlchat.terminal.output import Output
from aimlchat.words import plural

FSYNC_EVERY = 1.0  # seconds: the most a power cut can take back


@dataclass
class Existing:
    done: set[str] = field(default_factory=set)  # ids a run skips
    errors: set[str] = field(default_factory=set)  # error records to drop (--retry-errors)
    failed: set[str] = field(default_factory=set)  # ids in `done` whose record is an error
    keep_bytes: int | None = None  # truncate to this size: a torn last line
    add_newline: bool = False  # a whole last record that only lacks its newline


def _result(raw: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if isinstance(obj, dict) and valid_id(obj.get("id")):
        return obj
    return None


def scan(path: Path, *, retry_errors: bool) -> Existing:
    state = Existing()
    size = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            obj = _result(raw)
            if not raw.endswith(b"\n"):  # only ever the last line
                if obj is None:
                    state.keep_bytes = size
                    break
                state.add_newline = True
            elif obj is None and raw.strip():
                raise UsageError(
                    f"{path} line {number} is not a batch result; not appending to it",
                    hint="give -o a new file, or the OUT of an earlier batch",
                )
            size += len(raw)
            if obj is None:
                continue
            _add(state, id_key(obj["id"]), failed=bool(obj.get("error")), retry=retry_errors)
    state.errors -= state.done
    return state


def _add(state: Existing, key: str, *, failed: bool, retry: bool) -> None:
    if not failed:
        state.done.add(key)
        state.failed.discard(key)  # a success anywhere in OUT wins over an error
    elif retry:
        state.errors.add(key)
    else:
        if key not in state.done:  # else already there, as a success or an error
            state.failed.add(key)
        state.done.add(key)


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(
            f"{path} is being written by another aimlchat batch",
            hint="wait for it to finish, or give -o another file",
        ) from None


def _without_errors(fd: int, path: Path) -> int:
    """Rewrite OUT minus its error records; return the new file's (locked) descriptor."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = os.fstat(fd).st_mode & 0o777
    try:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            os.fchmod(dst.fileno(), mode)
            for raw in src:
                obj = _result(raw)
                if obj is None or not obj.get("error"):
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        new_fd = os.open(tmp, os.O_RDWR | os.O_APPEND)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Lock the new file before it takes the name: a second run that opens the name
    # from now on finds it locked; one that opened the old file found that locked.
    _lock(new_fd, path)
    os.replace(tmp, path)
    fsync_dir(path)
    os.close(fd)
    return new_fd


class OutFile:
    """OUT on disk: appends whole lines, fsyncs at least every second and on close."""

    shares_terminal = False

    def __init__(self, path: Path, fd: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._fd = fd
        self._clock = clock
        self._dirty = False
        self._synced = clock()

    @classmethod
    def open(
        cls, path: Path, *, retry_errors: bool, notice: Callable[[str], None]
    ) -> tuple[OutFile, Existing]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            _lock(fd, path)
            state = scan(path, retry_errors=retry_errors)
            if state.keep_bytes is not None:
                torn = os.fstat(fd).st_size - state.keep_bytes
                os.ftruncate(fd, state.keep_bytes)
                notice(f"{path}: removed a torn last line ({torn} bytes) left by a crash")
            if state.add_newline:
                os.write(fd, b"\n")
            if state.errors:
                fd = _without_errors(fd, path)
                notice(f"{path}: asking the {plural(len(state.errors), 'failed item')} again")
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return cls(path, fd), state

    def write(self, line: str) -> None:
        view = memoryview(line.encode("utf-8"))
        try:
            # One unbuffered write per record: a record is on disk whole or not at all
            # as far as this process is concerned; a crash mid-call leaves a torn line
            # that the next run repairs.
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise AimlchatError(f"cannot write {self.path}: {exc.strerror}") from None
        self._dirty = True
        self.tick()

    def tick(self) -> None:
        if self._dirty and self._clock() - self._synced >= FSYNC_EVERY:
            self._sync()

    def _sync(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        self._dirty = False
        self._synced = self._clock()

    def close(self) -> None:
        if self._dirty:
            self._sync()
        with contextlib.suppress(OSError):
            os.close(self._fd)


class StdoutFile:
    """OUT on stdout (no -o): through `Output`, so a terminal gets safe text."""

    path: Path | None = None

    def __init__(self, out: Output) -> None:
        self._out = out
        self.shares_terminal = out.is_terminal

    def write(self, line: str) -> None:
        self._out.data(line)

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass
