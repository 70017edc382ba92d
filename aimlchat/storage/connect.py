"""Opening the history database: for writing when we can, else for reading only.

A history on a read-only file system (a read-only mount, a backup, a container's image)
can still be read. SQLite reads a WAL database read-only (`mode=ro`) only when its -wal
and -shm files exist or can be created; in a folder that cannot be written they cannot,
so then it is opened `immutable=1`: read as it is, with no locks. A WAL database closed
cleanly has no -wal file, so nothing is missed; one a crash left behind with its -shm
file is read by `mode=ro`, WAL and all.
"""

from __future__ import annotations

import atexit
import errno
import sqlite3
import weakref
from pathlib import Path

from aimlchat.fsutil import private_dir, private_file

_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


# Connections still open when the process ends are closed then, whatever the garbage
# collector does (the console script freezes it on the way out, and a connection held in a
# reference cycle would never be closed): closing checkpoints the WAL into history.db, so
# a copy of that one file holds everything.
class _Connection(sqlite3.Connection):
    """sqlite3's connection, made weak-referenceable (a Python subclass is)."""


_OPEN: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()


@atexit.register
def _close_open() -> None:
    for db in list(_OPEN):
        db.close()


def open_writable(path: Path) -> sqlite3.Connection:
    private_dir(path.parent)
    private_file(path)  # sqlite would create it with the umask's mode
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None, factory=_Connection)
    _OPEN.add(db)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        db.close()
        raise
    return db


def unwritable(exc: Exception) -> str | None:
    """Why the database cannot be opened for writing, when that is all that is wrong
    (so reading may still work); None for any other failure (locked, damaged...)."""
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)) if exc.errno in _UNWRITABLE else None
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and (
        "readonly" in text or "unable to open" in text
    ):
        return text
    return None


def open_read_only(path: Path, *, latest: bool = False) -> sqlite3.Connection:
    """`mode=ro` (reads a WAL left behind), else `immutable=1`; sqlite3.Error if neither.
    `latest`: `mode=ro` only, for a reader that must see what other processes have just
    written (immutable=1 reads the file without its WAL)."""
    uri = path.absolute().as_uri()
    failure: sqlite3.Error | None = None
    for flag in ("mode=ro",) if latest else ("mode=ro", "immutable=1"):
        db = sqlite3.connect(
            f"{uri}?{flag}", uri=True, timeout=10.0, isolation_level=None, factory=_Connection
        )
        _OPEN.add(db)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file
        except sqlite3.Error as exc:
            db.close()
            failure = exc
            continue
        return db
    assert failure is not None
    raise failure
