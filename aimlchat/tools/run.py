"""Running one tool call and turning whatever happens into a result the model can read.

Nothing here raises for the model's mistakes (an unknown tool, arguments that are not
JSON, a path outside the directory) or the tool's (a failure, a timeout): each becomes
a `ToolResult` that says so. Only the user's Ctrl-C escapes, as `ToolInterrupted`,
after the tool's process group is stopped, carrying the result to record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from aimlchat.errors import redact
from aimlchat.messages import BadArguments, ToolCall
from aimlchat.record import record
from aimlchat.tools.protocol import RunContext, Status, Tool

__all__ = [
    "Running",
    "Status",
    "ToolInterrupted",
    "ToolResult",
    "check_call",
    "declined_result",
    "interrupted_result",
    "run_call",
    "run_checked",
    "tool_environment",
]

# The tool is the user's program, but the arguments are the model's: the API key has
# no business in its environment.
_HIDDEN_ENV = ("AIML_API_KEY",)
_SHOWN_ARGS = 2000

# What is entered while a call's tool runs: a sign of life on a terminal.
Running = Callable[[ToolCall], AbstractContextManager[object]]


@record(frozen=True)
class ToolResult:
    call: ToolCall
    status: Status
    content: str
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


class ToolInterrupted(KeyboardInterrupt):
    """Ctrl-C while a tool ran (or at its consent question). It is a KeyboardInterrupt,
    so the REPL returns to its prompt as for any Ctrl-C; `results` are what to record:
    one per call of the turn, so the history stays a context the API accepts."""

    def __init__(self, results: list[ToolResult]) -> None:
        super().__init__(results[-1].content if results else "interrupted")
        self.results = results


def declined_result(call: ToolCall, reason: str) -> ToolResult:
    return ToolResult(call, Status.DECLINED, f"declined: {call.name} was not run: {reason}")


def interrupted_result(
    call: ToolCall, *, started: bool = True, why: str = "the user pressed Ctrl-C"
) -> ToolResult:
    what = "was stopped before it finished" if started else "was not run"
    return ToolResult(call, Status.INTERRUPTED, f"interrupted: {why}; {call.name} {what}")


def _error(call: ToolCall, text: str) -> ToolResult:
    return ToolResult(call, Status.ERROR, f"error: {text}")


def check_call(
    call: ToolCall, available: Mapping[str, Tool]
) -> tuple[Tool, dict[str, Any]] | ToolResult:
    """The tool and parsed arguments, or the error result to send instead of running it."""
    tool = available.get(call.name)
    if tool is None:
        offered = ", ".join(sorted(available)) or "none"
        return _error(call, f"there is no tool named {call.name!r}; the tools are: {offered}")
    try:
        return tool, call.arguments()
    except BadArguments as exc:
        sent = call.arguments_text[:_SHOWN_ARGS]
        return _error(
            call, f"{exc}; send a JSON object matching {call.name}'s parameters. Sent: {sent}"
        )


def tool_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a command the model wrote (a tool, `cmd`): our secrets taken out."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k not in _HIDDEN_ENV}


def run_call(call: ToolCall, available: Mapping[str, Tool], ctx: RunContext) -> ToolResult:
    """Check and run one call (consent is the caller's job). Raises ToolInterrupted."""
    checked = check_call(call, available)
    if isinstance(checked, ToolResult):
        return checked
    return run_checked(call, *checked, ctx)


def run_checked(call: ToolCall, tool: Tool, args: dict[str, Any], ctx: RunContext) -> ToolResult:
    """Run a checked call, timed; Ctrl-C becomes ToolInterrupted once the tool stopped."""
    started = time.monotonic()
    try:
        status, content = tool.run(args, ctx)
    except KeyboardInterrupt:
        result = interrupted_result(call)
        raise ToolInterrupted([_timed(result, started)]) from None
    # The output goes to the API and into history: a known secret in it (the key in a file
    # read, a token a server echoes) goes as ***, whichever tool it came from.
    return _timed(ToolResult(call, status, redact(content)), started)


def _timed(result: ToolResult, started: float) -> ToolResult:
    seconds = round(time.monotonic() - started, 3)
    return ToolResult(result.call, result.status, result.content, seconds)
