"""The tool-call loop of one turn: a reply asks for calls, they run (with consent), their
results go back, and the model replies again, until a reply asks for none.

Every assistant message with tool calls is saved before its calls run and is followed
by one tool output per call, each saved the moment it exists, whatever happened
(declined, failed, Ctrl-C, SIGTERM, the step limit): history is always a context the
API accepts, for `--continue` and `/retry` alike.

It knows nothing of the session: the turn's one reply step and how a result is kept come
in as callables, so chat.session uses this module and this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aimlchat.api.adapters import ToolSchema
from aimlchat.errors import AimlchatError, Terminated
from aimlchat.messages import ToolCall
from aimlchat.record import record
from aimlchat.signals import held
from aimlchat.tools.messages import call_event, result_event
from aimlchat.tools.protocol import cut_note
from aimlchat.words import plural

if TYPE_CHECKING:
    # The runner (processes, consent, schemas) loads when a call is run: a plain `ask`
    # builds a ToolBox that offers nothing and never needs it.
    from aimlchat.tools.consent import Consent
    from aimlchat.tools.protocol import RunContext, Tool
    from aimlchat.tools.run import Running, ToolResult
    from aimlchat.tools.toolset import Toolset

DEFAULT_MAX_STEPS = 8
Report = Callable[[dict[str, Any]], None]


class Reply(Protocol):
    """What a reply step gives back, as far as the loop cares: the calls it asks for."""

    @property
    def calls(self) -> Sequence[ToolCall]: ...


R = TypeVar("R", bound=Reply)
Save = Callable[["ToolResult"], None]  # saves one result in the conversation
Room = Callable[[], "int | None"]  # tokens the next result may take (None: window unknown)


@record()
class ToolBox:
    """A session's tools: all there are (`toolset`), those offered now (`-T`, `/tools`),
    how to ask. It never asks which provider a tool comes from."""

    toolset: Toolset
    offered: list[Tool]
    consent: Consent
    max_steps: int = DEFAULT_MAX_STEPS
    cwd: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] | None = None  # the injected Environment's; None: os.environ
    report: Report | None = None  # --ndjson: tool_call and tool_result events
    say: Callable[[str], None] | None = None  # one line per result, for the user
    busy: Callable[[str], AbstractContextManager[object]] | None = None  # a tool runs (label)

    @property
    def available(self) -> dict[str, Tool]:
        """Every tool known now, by the name the model knows."""
        return self.toolset.available()

    def schemas(self) -> tuple[ToolSchema, ...]:
        """The offered tools as the request offers them."""
        return tuple(ToolSchema(t.name, t.description, t.parameters) for t in self.offered)

    def runnable(self) -> dict[str, Tool]:
        # Only offered tools run: a call to any other is an "unknown tool" result.
        return {tool.name: tool for tool in self.offered}

    def label(self, name: str) -> str:
        """A tool's name for people (`aiml.search`) from the one the model used."""
        for tool in self.offered:
            if tool.name == name:
                return tool.label
        return name

    def run_context(self, room: Room | None) -> RunContext:
        from aimlchat.tools.protocol import RunContext, output_cap_for

        cap = output_cap_for(room() if room is not None else None)
        return RunContext(self.cwd, self.environ, cap)


class StepLimit(AimlchatError):
    """The model still asked for tools after --max-steps rounds (exit 1)."""

    def __init__(self, steps: int, calls: Sequence[ToolCall]) -> None:
        names = ", ".join(dict.fromkeys(c.name or "?" for c in calls))
        super().__init__(
            f"stopped after {steps} tool step{'s' * (steps != 1)}; the model still asked for "
            f"{names}",
            hint="raise --max-steps to allow more; everything so far is saved",
        )


def run_turn(
    box: ToolBox,
    step: Callable[[], R],
    save: Save,
    gate: Callable[[], None] | None = None,
    room: Room | None = None,
) -> R:
    """Reply steps (`step`: one request and its reply, saved) and tool steps until a reply
    without calls; StepLimit past max_steps. `save` keeps each result. `gate` raises
    when no further request may be sent (a spent budget): the calls are then not run,
    since their results could not go back, and are answered as such. `room` says what
    the window has left for the next result: a tool's output is read up to that."""
    steps = 0
    while True:
        result = step()
        if not result.calls:
            return result
        if box.report is not None:
            for call in result.calls:
                box.report(call_event(call, box.label(call.name)))
        if steps >= box.max_steps:
            _record(save, box, [_not_run(call, box.max_steps) for call in result.calls])
            raise StepLimit(steps, result.calls)
        if gate is not None:
            try:
                gate()
            except AimlchatError:
                _record(save, box, [_stopped(call) for call in result.calls])
                raise
        try:
            run_step(save, box, result.calls, room)
        finally:
            # A server that died in the step: its tools are not offered to the next request.
            box.offered = box.toolset.withdrawn(box.offered)
        steps += 1


def run_step(
    save: Save, box: ToolBox, calls: Sequence[ToolCall], room: Room | None = None
) -> list[ToolResult]:
    """Run one reply's calls in order, saving each result as it comes."""
    from aimlchat.tools.run import ToolInterrupted, interrupted_result
    from aimlchat.tools.turn import run_calls

    saved: list[ToolResult] = []
    begun: list[ToolCall] = []  # the calls whose tool started: past the consent question

    def keep(result: ToolResult) -> None:
        with held():  # saved and counted as one, or neither
            save(result)
            saved.append(result)  # before telling: a closed stdout must not record it twice
        _tell(box, result)

    try:
        return run_calls(
            calls,
            box.runnable(),
            box.consent,
            lambda: box.run_context(room),
            on_result=keep,
            on_start=begun.append,
            running=_running(box),
        )
    except ToolInterrupted as exc:  # Ctrl-C: the tool's process group is already stopped
        _record(save, box, exc.results[len(saved) :])
        raise
    except BaseException as exc:  # SIGTERM, SIGHUP or anything else: no call goes unanswered
        why = exc.cause if isinstance(exc, Terminated) else "aimlchat stopped"
        rest = calls[len(saved) :]
        running = begun[-1] if begun else None  # else it stopped at a question, or before
        _record(
            save,
            box,
            [interrupted_result(call, started=call is running, why=why) for call in rest],
        )
        raise


def _running(box: ToolBox) -> Running | None:
    busy = box.busy
    return None if busy is None else lambda call: busy(box.label(call.name))


def _record(save: Save, box: ToolBox, results: Sequence[ToolResult]) -> None:
    # A hangup a moment after the terminal's read failed must not leave calls unanswered.
    with held():
        for result in results:
            save(result)
    for result in results:
        _tell(box, result)


def _tell(box: ToolBox, result: ToolResult) -> None:
    if box.report is not None:
        box.report(result_event(result, box.label(result.call.name)))
    if box.say is not None:
        box.say(summary(result, box.label(result.call.name)))


def summary(result: ToolResult, label: str | None = None) -> str:
    """`← weather: ok, 312 bytes in 0.2 s` or the first line of what went wrong."""
    name = label or result.call.name or "?"
    if result.ok:
        size = len(result.content.encode("utf-8"))
        found = cut_note(result.content)
        cut = f" ({found.group(1)})" if found else ""  # the model sees it; so should you
        return f"← {name}: ok, {plural(size, 'byte')}{cut} in {result.seconds:.1f} s"
    first = result.content.splitlines()[0] if result.content else result.status.value
    if label and result.call.name and label != result.call.name:
        # "declined: aiml__search was not run" is for the model; people know `aiml.search`.
        first = first.replace(result.call.name, label)
    return f"← {name}: {first.removeprefix('error: ')}"


def _not_run(call: ToolCall, steps: int) -> ToolResult:
    from aimlchat.tools.run import Status, ToolResult

    return ToolResult(
        call,
        Status.DECLINED,
        f"not run: the limit of {plural(steps, 'tool step')} in one turn was reached",
    )


def _stopped(call: ToolCall) -> ToolResult:
    from aimlchat.tools.run import Status, ToolResult

    why = "a spending limit was reached, so no result could be sent back"
    return ToolResult(call, Status.DECLINED, f"not run: {why}")
