"""The process's streams, decided once at the edge: which are terminals, colour or not."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO


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


@dataclass
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
        return cls(
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            environ=os.environ,
            stdin_tty=_isatty(sys.stdin),
            stdout_tty=_isatty(sys.stdout),
            stderr_tty=_isatty(sys.stderr),
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

    @property
    def dumb_terminal(self) -> bool:
        return self.environ.get("TERM") in ("dumb", "unknown")
