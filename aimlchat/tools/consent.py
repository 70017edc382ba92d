"""Consent: a tool runs only when the user said so, now or for the session, or in config.

Every call is shown, made safe for a terminal since the name and arguments are the
model's text. A call that is asked about is shown whole, in the question itself (the
arguments pretty-printed, every line of them: the user consents to what they can see,
where they answer); one that runs or is declined without a question (`--yes`,
`confirm = false`, no terminal) gets one line, `→ weather {"city": "Paris"}`, elided past
SHOWN characters. Asking is injected (`ask(question) -> str`): the REPL asks through
prompt_toolkit; `FdAsk` reads a line from a terminal's fd. With no way to ask and no
`--yes`, the call is declined, and stderr says how to allow it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from aimlchat.errors import Hangup
from aimlchat.messages import ToolCall
from aimlchat.osplatform import open_terminal
from aimlchat.terminal.keypress import drop_typeahead
from aimlchat.terminal.sanitize import terminal_safe

if TYPE_CHECKING:  # a Consent is made for every chat; the runner loads when a call runs
    from aimlchat.tools.protocol import Tool
    from aimlchat.tools.run import ToolResult

Ask = Callable[[str], str]
Say = Callable[[str], None]
SHOWN = 300  # characters of arguments shown when nothing is asked; the rest is elided
_YES = ("y", "yes")
_ALWAYS = ("a", "always")


def _one_line(text: str) -> str:
    return " ".join(terminal_safe(text).split())


def _shown_name(call: ToolCall, label: str | None) -> str:
    return _one_line(label or call.name) or "(no name)"


def describe(call: ToolCall, label: str | None = None) -> str:
    """`→ weather {"city": "Paris"}`, on one line, safe for a terminal, elided: for a call
    nobody is asked about. `label`: the tool's name for people (`aiml.search`)."""
    args = _one_line(_arguments(call))
    if len(args) > SHOWN:
        args = args[:SHOWN] + "…"
    return f"→ {_shown_name(call, label)} {args}".rstrip()


def describe_whole(call: ToolCall, label: str | None = None) -> str:
    """The call with all of its arguments, pretty-printed over as many lines as they take,
    safe for a terminal: for a call the user is asked about."""
    args = terminal_safe(_arguments(call, indent=2))
    return f"→ {_shown_name(call, label)} {args}".rstrip()


def _arguments(call: ToolCall, indent: int | None = None) -> str:
    try:
        # JSON escapes every control character in the model's strings (\n, \u001b).
        return json.dumps(call.arguments(), ensure_ascii=False, indent=indent)
    except ValueError:
        return call.arguments_text


def question(call: ToolCall, tool: Tool | None = None) -> str:
    """The call whole, then what runs it when that is not the user's own command: an MCP
    server is someone else's program, and the user should see whose."""
    label = tool.label if tool is not None else None
    where = f" on {tool.runs()}" if tool is not None and tool.kind == "mcp" else ""
    name = _shown_name(call, label)
    return f"{describe_whole(call, label)}\nrun {name}{where}? [y/N/a(lways this session)] "


class Consent:
    """Decides, call by call, whether a tool may run; remembers `a` for the session."""

    def __init__(
        self,
        *,
        ask: Ask | None,
        warn: Say,
        show: Say | None = None,
        assume_yes: bool = False,
    ) -> None:
        self._ask = ask
        self._warn = warn
        self._show = show
        self.assume_yes = assume_yes
        self.always: set[str] = set()

    def show(self, call: ToolCall, label: str | None = None) -> None:
        """The call's one line, for a call that is not asked about."""
        if self._show is not None:
            self._show(describe(call, label))

    def review(self, call: ToolCall, tool: Tool) -> ToolResult | None:
        """None when the call may run; otherwise the declined result to send instead.
        Shows the call: whole, in the question, when it asks. A KeyboardInterrupt from
        `ask` propagates: Ctrl-C at the question stops the turn."""
        from aimlchat.tools.run import declined_result

        if self.assume_yes or not tool.asks or tool.name in self.always:
            self.show(call, tool.label)
            return None
        if self._ask is None:
            self.show(call, tool.label)
            self._warn(
                f"tool {_one_line(tool.label)} not run: no terminal to ask for consent; "
                + _one_line(tool.allow_hint())
            )
            return declined_result(call, "there was no terminal to ask the user for consent")
        try:
            answer = self._ask(question(call, tool)).strip().lower()
        except EOFError:
            answer = ""
        if answer in _YES:
            return None
        if answer in _ALWAYS:
            self.always.add(tool.name)
            return None
        return declined_result(call, "the user declined to run it")


class FdAsk:
    """Asks on a terminal: writes the question, reads one line from `fd_in`.

    Reads a byte at a time so it never takes more than the answer's line from a shared fd.
    What was typed before the question appeared is thrown away first, as `cmd` does.
    """

    def __init__(self, fd_in: int, fd_out: int, *, owned: bool = False) -> None:
        self._in = fd_in
        self._out = fd_out
        self._owned = owned

    @classmethod
    def open_tty(cls) -> FdAsk | None:
        """Ask on the controlling terminal (`/dev/tty`, the console on Windows), e.g. when
        stdin is a pipe; None when there is none (cron, CI, `setsid`)."""
        fds = open_terminal()
        return None if fds is None else cls(*fds, owned=True)

    def __call__(self, question: str) -> str:
        try:
            return self._ask(question)
        except KeyboardInterrupt:
            # The terminal echoed ^C after the question: what follows starts a new line.
            with contextlib.suppress(OSError):
                os.write(self._out, b"\n")
            raise
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            # The terminal closed under the question; its SIGHUP follows (and finds this
            # hangup on its way out). The writes on the way out must not fail on it.
            raise Hangup() from None

    def _ask(self, question: str) -> str:
        if os.isatty(self._in):
            # A `y` typed while the reply streamed must not answer a question never seen.
            drop_typeahead(self._in)
        os.write(self._out, question.encode())
        line = bytearray()
        while not line.endswith(b"\n"):
            byte = os.read(self._in, 1)
            if not byte:
                if not line:
                    raise EOFError
                break
            line += byte
        return line.decode("utf-8", "replace")

    def close(self) -> None:
        if self._owned:
            for fd in {self._in, self._out}:  # one on POSIX, two on Windows
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._owned = False
