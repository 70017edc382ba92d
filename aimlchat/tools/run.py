"""Running one tool call and turning whatever happens into a result the model can read.

Nothing here raises for the model's mistakes (an unknown tool, arguments that are not
JSON, a path outside the directory) or the tool's (a failure, a timeout): each becomes
a `ToolResult` that says so. Only the user's Ctrl-C escapes, as `ToolInterrupted`,
after the tool's process group is stopped, carrying the result to record.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from aimlchat.messages import BadArguments, ToolCall
from aimlchat.record import record
from aimlchat.tools.builtins import BUILTIN_RUNNERS, ToolFailure, human_size
from aimlchat.tools.process import STDERR_TAIL, CannotStart, Outcome, run_command
from aimlchat.tools.spec import ToolSpec

# The tool is the user's program, but the arguments are the model's: the API key has
# no business in its environment.
_HIDDEN_ENV = ("AIML_API_KEY",)
_SHOWN_ARGS = 2000


class Status(str, Enum):
    OK = "ok"
    FAILED = "failed"  # non-zero exit status or a signal
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    DECLINED = "declined"
    ERROR = "error"  # unknown tool, bad arguments, cannot start, refused path


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
    call: ToolCall, available: Mapping[str, ToolSpec]
) -> tuple[ToolSpec, dict[str, Any]] | ToolResult:
    """The tool and parsed arguments, or the error result to send instead of running it."""
    spec = available.get(call.name)
    if spec is None:
        offered = ", ".join(sorted(available)) or "none"
        return _error(call, f"there is no tool named {call.name!r}; the tools are: {offered}")
    try:
        return spec, call.arguments()
    except BadArguments as exc:
        sent = call.arguments_text[:_SHOWN_ARGS]
        return _error(
            call, f"{exc}; send a JSON object matching {call.name}'s parameters. Sent: {sent}"
        )


def tool_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a command the model wrote (a tool, `cmd`): our secrets taken out."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k not in _HIDDEN_ENV}


def run_call(
    call: ToolCall,
    available: Mapping[str, ToolSpec],
    *,
    cwd: Path,
    environ: Mapping[str, str] | None = None,
) -> ToolResult:
    """Check and run one call (consent is the caller's job). Raises ToolInterrupted."""
    checked = check_call(call, available)
    if isinstance(checked, ToolResult):
        return checked
    return run_checked(call, *checked, cwd=cwd, environ=environ)


def run_checked(
    call: ToolCall,
    spec: ToolSpec,
    args: dict[str, Any],
    *,
    cwd: Path,
    environ: Mapping[str, str] | None = None,
) -> ToolResult:
    started = time.monotonic()
    try:
        status, content = _execute(spec, args, cwd, tool_environment(environ))
    except KeyboardInterrupt:
        result = interrupted_result(call)
        raise ToolInterrupted([_timed(result, started)]) from None
    return _timed(ToolResult(call, status, content), started)


def _timed(result: ToolResult, started: float) -> ToolResult:
    seconds = round(time.monotonic() - started, 3)
    return ToolResult(result.call, result.status, result.content, seconds)


def _execute(
    spec: ToolSpec, args: dict[str, Any], cwd: Path, env: Mapping[str, str]
) -> tuple[Status, str]:
    if spec.command is None:
        runner = BUILTIN_RUNNERS.get(spec.name)
        if runner is None:
            return Status.ERROR, f"error: {spec.name} has no command"
        try:
            return Status.OK, runner(args, cwd)
        except ToolFailure as exc:
            return Status.ERROR, f"error: {exc}"
    # The arguments travel on stdin as JSON, never in argv: no quoting can go wrong.
    payload = json.dumps(args, ensure_ascii=False).encode() + b"\n"
    try:
        outcome = run_command(spec.command, payload, cwd=cwd, env=env, timeout=spec.timeout)
    except CannotStart as exc:
        return Status.ERROR, f"error: cannot start {spec.name}: {exc}"
    return describe_outcome(spec, outcome)


def _decode(data: bytes) -> str:
    # A cap can cut a character in two; a replacement mark at the very end is that.
    return data.decode("utf-8", "replace")


def _stdout(outcome: Outcome) -> str:
    text = _decode(outcome.stdout)
    if outcome.stdout_total > len(outcome.stdout):
        text = text.rstrip("\ufffd")
        size, total = human_size(len(outcome.stdout)), human_size(outcome.stdout_total)
        text += f"\n[output cut at {size} of {total}]"
    return text


def _stderr(outcome: Outcome) -> str:
    if not outcome.stderr_tail.strip():
        return ""
    cut = outcome.stderr_total > len(outcome.stderr_tail)
    label = f"stderr (last {human_size(STDERR_TAIL)})" if cut else "stderr"
    return f"\n{label}:\n{_decode(outcome.stderr_tail).rstrip()}"


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def describe_outcome(spec: ToolSpec, outcome: Outcome) -> tuple[Status, str]:
    if outcome.timed_out:
        head = f"error: {spec.name} timed out after {spec.timeout:g} s and was stopped"
        status = Status.TIMED_OUT
    elif outcome.returncode:
        head = f"error: {spec.name} {_exit_text(outcome.returncode)}"
        status = Status.FAILED
    else:
        text = _stdout(outcome)
        return Status.OK, text if text.strip() else "(the tool printed nothing)"
    stdout = _stdout(outcome)
    body = f"\nstdout:\n{stdout.rstrip()}" if stdout.strip() else ""
    return status, head + body + _stderr(outcome)
