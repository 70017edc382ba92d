"""The process's streams, decided once at the edge: which are terminals, colour or not.

Also the small writers that need no rich: plain text for pipes, sanitized text for
`--raw` on a terminal, and one-line notices and errors on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, TextIO

from aimlchat.errors import redact
from aimlchat.terminal.sanitize import terminal_safe


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


class Sink(Protocol):
    """Consumes the reply's text as it streams."""

    def feed(self, text: str) -> None: ...

    def finish(self, *, interrupted: bool = False) -> None: ...


def _binary(stream: TextIO) -> BinaryIO | None:
    return getattr(stream, "buffer", None)


class PlainSink:
    """A pipe or file: exactly the model's text, flushed per delta, one trailing newline."""

    def __init__(self, stream: TextIO) -> None:
        self._text = stream
        self._bin = _binary(stream)
        self._last = ""

    def feed(self, text: str) -> None:
        if not text:
            return
        if self._bin is not None:
            # Bytes, not the text layer: the locale's encoding must not mangle data.
            self._bin.write(text.encode("utf-8", "replace"))
            self._bin.flush()
        else:
            self._text.write(text)
            self._text.flush()
        self._last = text[-1]

    def finish(self, *, interrupted: bool = False) -> None:
        if self._last and self._last != "\n":
            self.feed("\n")


class RawTerminalSink(PlainSink):
    """`--raw` on a terminal: plain text, but control characters made visible."""

    def feed(self, text: str) -> None:
        super().feed(terminal_safe(text))


class Notifier:
    """One-line messages on stderr: never on stdout, always sanitized and redacted."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._color = env.stderr_color

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def _write(self, line: str) -> None:
        try:
            self._env.stderr.write(line + "\n")
            self._env.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr gone: nothing sensible left to tell

    @staticmethod
    def clean(text: str) -> str:
        return terminal_safe(redact(text)).replace("\n", " ")

    def info(self, text: str) -> None:
        self._write(self._paint("2", f"aimlchat: {self.clean(text)}"))

    def warn(self, text: str) -> None:
        self._write(self._paint("33", "aimlchat: warning: ") + self.clean(text))

    def error(self, text: str, hint: str | None = None) -> None:
        line = self._paint("31;1", "aimlchat: error: ") + self.clean(text)
        if hint:
            line += self._paint("2", f" — {self.clean(hint)}")
        self._write(line)

    def raw(self, text: str) -> None:
        """Multi-line text that is ours (a traceback with --debug), redacted."""
        self._write(redact(text).rstrip("\n"))
