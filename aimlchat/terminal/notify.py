"""One-line notices, warnings and errors on stderr: never on stdout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aimlchat.errors import redact
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.sanitize import terminal_safe


class Above(Protocol):
    """What draws on stderr's last row (a spinner): a line is written with it out of
    the way."""

    def over(self, write: Callable[[], None]) -> None: ...


class Notifier:
    """One-line messages on stderr: never on stdout, always sanitized and redacted."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._color = env.stderr_color
        self.above: Above | None = None  # a spinner turning now, if any

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def _write(self, line: str) -> None:
        above = self.above
        if above is not None:
            above.over(lambda: self._put(line))
        else:
            self._put(line)

    def _put(self, line: str) -> None:
        try:
            self._env.stderr.write(line + "\n")
            self._env.stderr.flush()
        except (OSError, ValueError):
            pass  # stderr gone: nothing sensible left to tell

    @property
    def on_terminal(self) -> bool:
        """Whether stderr is a terminal: a passing line (a slow start's) is said only
        there, never into a pipe or a log, which would keep it for good."""
        return self._env.stderr_tty

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
        """Multi-line text that is ours (usage text), redacted."""
        self._write(redact(text).rstrip("\n"))

    def debug(self, text: str) -> None:
        """--debug's lines (requests, error bodies, a traceback): they carry the server's
        text, so redacted, and made terminal-safe on a terminal, newlines kept. A file
        or pipe gets them as they are, for a bug report."""
        text = redact(text).rstrip("\n")
        if self._env.stderr_tty:
            text = terminal_safe(text)
        self._write(text)
