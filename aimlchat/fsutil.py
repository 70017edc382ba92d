"""Private folders, atomic crash-safe file writes, and size-capped reads of named files."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from aimlchat.errors import UsageError
from aimlchat.osplatform import fchmod

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700, whatever the umask says."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    # mkdir's mode is filtered by the umask; chmod is not.
    if (path.stat().st_mode & 0o777) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if it does not exist; tighten it if it does."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fchmod(fh.fileno(), FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path)


def fsync_dir(path: Path, *, strict: bool = False) -> None:
    """Make a new file or a rename onto `path` durable: fsync the folder that holds it.
    A system that cannot open a folder (Windows) or sync one (EINVAL) has nothing to do
    here; any other failure is an OSError when `strict` (batch OUT must say so)."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if strict and exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(dir_fd)


def read_capped(path: Path, *, label: str, limit: int, kind: str) -> bytes:
    """The bytes of a file the user named, or a UsageError saying plainly what is wrong.

    `kind` names what is limited in the message ("images", "files").
    """
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UsageError(f"{label} is not a file")
        if size > limit:
            raise UsageError(
                f"{label} is {size / 1e6:.1f} MB; {kind} are limited to {limit // 1024 // 1024} MB"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {label}") from None
    except PermissionError:
        raise UsageError(f"cannot read {label}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror or exc}") from None
