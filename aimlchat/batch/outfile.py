"""OUT: one JSON line per finished item, appended whole, durable within a second.

Opening an existing OUT is what makes a batch resumable: its ids are read (memory is
O(ids), never O(text)) so a rerun skips them; a last line cut short by a crash is cut
off (a prefix of a JSON object never parses, so a torn record cannot pass for a whole
one); `--retry-errors` rewrites the file without its error records, atomically, so every
id still appears once. An exclusive lock stops two runs from appending to one file.

Only a file of our own records is ever changed: any line that is not a batch record (a
`json.dump` document, a CSV, another tool's JSONL) makes OUT refused and left as it is.
A torn last line is cut off only when whole records precede it; a file holding nothing
but an unparsable line is refused too, since nothing proves it is ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, BinaryIO

from aimlchat.batch.records import id_key, valid_id
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.fsutil import fsync_dir
from aimlchat.osplatform import fchmod, lock_exclusive
from aimlchat.record import record
from aimlchat.terminal.output import Output
from aimlchat.words import plural

FSYNC_EVERY = 1.0  # seconds: the most a power cut can take back
OPEN_ATTEMPTS = 5  # OUT replaced by rename between opening and locking it, in a row
RECORD_KEYS = frozenset({"id", "text", "error"})  # on every line a batch has ever written


class WriteFailed(AimlchatError):
    """OUT cannot be written or made durable: the batch must stop."""


@record()
class Existing:
    done: set[str] = field(default_factory=set)  # ids a run skips
    errors: set[str] = field(default_factory=set)  # error records to drop (--retry-errors)
    failed: set[str] = field(default_factory=set)  # ids in `done` whose record is an error
    keep_bytes: int | None = None  # truncate to this size: a torn last line
    add_newline: bool = False  # a whole last record that only lacks its newline


def _result(raw: bytes) -> dict[str, Any] | None:
    """The batch record on a line of OUT, or None when the line is not one."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if isinstance(obj, dict) and valid_id(obj.get("id")) and obj.keys() >= RECORD_KEYS:
        return obj
    return None


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _torn(raw: bytes) -> bool:
    """A last line a crash cut short: a record's start (or the zeros some file systems
    leave after a power cut) that does not parse, since a prefix of a record never does."""
    return raw.lstrip(b"\0")[:1] in (b"{", b"") and not _parses(raw)


def scan(fh: BinaryIO, path: Path, *, retry_errors: bool) -> Existing:
    """The ids OUT (open as `fh`) holds, and what to repair; UsageError if it is not OUT."""
    state = Existing()
    size = records = 0
    for number, raw in enumerate(fh, start=1):
        obj = _result(raw) if raw.strip() else None
        if obj is None and raw.strip():
            # Torn: only the last line, only after whole records. Anything else means
            # OUT is some other file: hands off.
            if raw.endswith(b"\n") or not _torn(raw):
                raise UsageError(
                    f"{path} line {number} is not a batch result; not appending to it",
                    hint="give -o a new file, or the OUT of an earlier batch",
                )
            if not records:
                raise UsageError(
                    f"{path} holds no whole batch record, only a line cut short; not touching it",
                    hint="if a crashed batch left it, delete it and run again",
                )
            state.keep_bytes = size
            break
        if obj is not None:
            records += 1
            state.add_newline = not raw.endswith(b"\n")  # only ever the last line
            _add(state, id_key(obj["id"]), failed=bool(obj.get("error")), retry=retry_errors)
        size += len(raw)
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
    if not lock_exclusive(fd):
        raise UsageError(
            f"{path} is being written by another aimlchat batch",
            hint="wait for it to finish, or give -o another file",
        ) from None


def _names(fd: int, path: Path) -> bool:
    """Whether `path` still names the open file `fd` (not replaced or removed since)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _open_locked(path: Path) -> tuple[int, bool]:
    """OUT opened (created if missing) and locked; also whether this call created it.

    Another run's `--retry-errors` replaces OUT by a rename: a lock taken on the file
    opened just before that would guard a file without a name, and what is appended to
    it would be lost. So the name is checked again once the lock is held."""
    for _ in range(OPEN_ATTEMPTS):
        created = True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            created = False
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                continue  # removed in between: create it
        try:
            _lock(fd, path)
            if _names(fd, path):
                return fd, created
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise UsageError(
        f"{path} keeps being replaced by another program; not writing to it",
        hint="give -o a file nothing else writes",
    )


def _not_saved(path: Path, exc: OSError) -> WriteFailed:
    """What a failed fsync means (EIO, ENOSPC on NFS): the disk may not keep `path`."""
    return WriteFailed(
        f"cannot save {path} to disk (fsync: {exc.strerror})",
        hint="the last results may be lost; check the disk, then rerun to resume",
    )


def _fsync(fd: int, path: Path) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _not_saved(path, exc) from None


def _sync_dir(path: Path) -> None:
    """Make OUT's name durable (a new file, a rename onto it); a failure is reported."""
    try:
        fsync_dir(path, strict=True)
    except OSError as exc:
        raise _not_saved(path.parent, exc) from None


def _without_errors(fd: int, path: Path) -> int:
    """Rewrite OUT minus its error records; return the new file's (locked) descriptor."""
    mode = os.fstat(fd).st_mode & 0o777
    # A new name of our own (O_EXCL): a predictable one could be a link planted to
    # redirect the write, or another run's file, truncated.
    tmp_fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(tmp_fd, "wb") as dst, os.fdopen(os.dup(fd), "rb") as src:
            src.seek(0)
            fchmod(dst.fileno(), mode)
            for raw in src:
                obj = _result(raw)
                if obj is None or not obj.get("error"):
                    dst.write(raw)
            dst.flush()
            _fsync(dst.fileno(), tmp)
        new_fd = os.open(tmp, os.O_RDWR | os.O_APPEND)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Lock the new file before it takes the name: a second run that opens the name
    # from now on finds it locked; one that opened the old file finds that locked, or,
    # once this run lets go of it, no longer named OUT (see _open_locked).
    _lock(new_fd, path)
    os.replace(tmp, path)
    os.close(fd)
    _sync_dir(path)
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
        self._failed: WriteFailed | None = None  # once set, every write says so again

    @classmethod
    def open(
        cls, path: Path, *, retry_errors: bool, notice: Callable[[str], None]
    ) -> tuple[OutFile, Existing]:
        fd, created = _open_locked(path)
        try:
            if created:
                _sync_dir(path)
            # Read through the locked descriptor: the file the lock guards, whatever
            # the name points at by now.
            with os.fdopen(os.dup(fd), "rb") as fh:
                state = scan(fh, path, retry_errors=retry_errors)
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
        if self._failed is not None:
            raise self._failed
        view = memoryview(line.encode("utf-8"))
        try:
            # One unbuffered write per record: a record is on disk whole or not at all
            # as far as this process is concerned; a crash mid-call leaves a torn line
            # that the next run repairs.
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._failed = WriteFailed(f"cannot write {self.path}: {exc.strerror}")
            raise self._failed from None
        self._dirty = True
        self.tick()

    def tick(self) -> None:
        if self._dirty and self._clock() - self._synced >= FSYNC_EVERY:
            self._sync()

    def _sync(self) -> None:
        if self._failed is not None:
            raise self._failed
        try:
            _fsync(self._fd, self.path)
        except WriteFailed as exc:
            self._failed = exc
            raise
        self._dirty = False
        self._synced = self._clock()

    def close(self) -> None:
        """Sync what is left and close; a failure is raised only if not reported yet."""
        try:
            if self._dirty and self._failed is None:
                self._sync()
        finally:
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
