"""The tool calls of one reply, handled in order: shown, checked, consented to, run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from aimlchat.messages import ToolCall
from aimlchat.tools.consent import Consent
from aimlchat.tools.protocol import RunContext, Tool
from aimlchat.tools.run import (
    Running,
    ToolInterrupted,
    ToolResult,
    check_call,
    interrupted_result,
    run_checked,
)


def _one(
    call: ToolCall,
    available: Mapping[str, Tool],
    consent: Consent,
    context: Callable[[], RunContext],
    on_start: Callable[[ToolCall], None] | None = None,
    running: Running | None = None,
) -> ToolResult:
    checked = check_call(call, available)
    if isinstance(checked, ToolResult):
        consent.show(call)
        return checked  # nothing runs, so there is nothing to consent to
    tool, args = checked
    declined = consent.review(call, tool)  # shows the call: whole when it asks about it
    if declined is not None:
        return declined
    if on_start is not None:
        on_start(call)
    # The context now: the cap comes from what the window has left after earlier results.
    ctx = context()
    with running(call) if running is not None else contextlib.nullcontext():
        return run_checked(call, tool, args, ctx)


def _stop(results: list[ToolResult], rest: Sequence[ToolCall]) -> NoReturn:
    results.extend(interrupted_result(call, started=False) for call in rest)
    raise ToolInterrupted(results) from None


def run_calls(
    calls: Sequence[ToolCall],
    available: Mapping[str, Tool],
    consent: Consent,
    context: Callable[[], RunContext],
    *,
    on_result: Callable[[ToolResult], None] | None = None,
    on_start: Callable[[ToolCall], None] | None = None,
    running: Running | None = None,
) -> list[ToolResult]:
    """One result per call, in order. On Ctrl-C (at a question or while a tool runs)
    raises ToolInterrupted holding a result for every call, the rest marked not run.
    `on_start` hears of each call as its tool starts (past the consent question);
    `running` is entered while the tool runs (a spinner)."""
    results: list[ToolResult] = []
    for position, call in enumerate(calls):
        try:
            result = _one(call, available, consent, context, on_start, running)
        except ToolInterrupted as exc:
            results.extend(exc.results)
            _stop(results, calls[position + 1 :])
        except KeyboardInterrupt:
            results.append(interrupted_result(call, started=False))
            _stop(results, calls[position + 1 :])
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
