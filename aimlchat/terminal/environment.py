"""The process's streams, decided once at the edge: which are terminals, colour or not."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Mapping
from dataclasses import field
from typing import TextIO, cast

from aimlchat.osplatform import point_at_devnull
from aimlchat.record import record


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def color_wanted(environ: Mapping[str, str], is_tty: bool, no_color_flag: bool = False) -> bool:
    """--no-color > NO_COLOR > FORCE_COLOR > TERM=dumb > is it a terminal."""
    if no_color_flag or environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR", "") not in ("", "0", "false"):
        return True
    if environ.get("TERM") == "dumb":
        return False
    return is_tty


class ClosedStdout(io.TextIOBase):
    """stdout when the caller closed it (`>&-`): each write fails, as on a closed
    descriptor, and `Output` turns that into one clear line."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass  # nothing is ever buffered


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def _process_streams() -> tuple[TextIO, TextIO, TextIO]:
    """sys's streams; one that is None (its descriptor closed) stands in: stdin reads as
    empty (no stdin), stdout refuses writes, stderr drops them."""
    # Python leaves sys.stdin/stdout/stderr None for a descriptor the caller closed
    # (`<&-`, cron, daemons), and the next file opened would take its number: the history
    # database on fd 1, where a child process (a tool, the editor) would write.
    point_at_devnull([fd for fd in (0, 1, 2) if _closed(fd)])
    stdin = sys.stdin or open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the process's
    stdout = sys.stdout or cast(TextIO, ClosedStdout())
    stderr = sys.stderr or open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    return stdin, stdout, stderr


@record()
class Environment:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin_tty: bool = False
    stdout_tty: bool = False
    stderr_tty: bool = False
    no_color: bool = False

    @classmethod
    def from_process(cls) -> Environment:
        stdin, stdout, stderr = _process_streams()
        return cls(
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            environ=os.environ,
            stdin_tty=_isatty(stdin),
            stdout_tty=_isatty(stdout),
            stderr_tty=_isatty(stderr),
        )

    @property
    def stdout_color(self) -> bool:
        return color_wanted(self.environ, self.stdout_tty, self.no_color)

    @property
    def stderr_color(self) -> bool:
        return color_wanted(self.environ, self.stderr_tty, self.no_color)

    def stdin_fd(self) -> int | None:
        """The terminal's input descriptor, when stdin is a terminal."""
        if not self.stdin_tty:
            return None
        try:
            return self.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def terminal_outputs(self) -> list[int]:
        """The descriptors of stdout and stderr that are a terminal: what a hangup
        silences (aimlchat/signals.py)."""
        fds = []
        for stream, tty in ((self.stdout, self.stdout_tty), (self.stderr, self.stderr_tty)):
            if tty:
                with contextlib.suppress(AttributeError, OSError, ValueError):
                    fds.append(stream.fileno())
        return fds

    @property
    def dumb_terminal(self) -> bool:
        return self.environ.get("TERM") in ("dumb", "unknown")
