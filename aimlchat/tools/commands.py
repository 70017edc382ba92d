"""The `[tools.NAME]` provider: a command on the user's machine, as a `Tool`.

The arguments travel on its stdin as JSON, never in argv, so no quoting can go wrong; its
stdout (cut at what the model's window has room for) is the result; a failure, a signal
or a timeout is told with the tail of its stderr.
"""

from __future__ import annotations

import json
import shlex
import signal
from typing import Any, ClassVar

from aimlchat.errors import redact
from aimlchat.tools.builtins import human_size
from aimlchat.tools.process import STDERR_TAIL, CannotStart, Outcome, run_command
from aimlchat.tools.protocol import RunContext, Status
from aimlchat.tools.run import tool_environment
from aimlchat.tools.spec import SpecTool, ToolSpec


class CommandTool(SpecTool):
    kind: ClassVar[str] = "command"

    def runs(self) -> str:
        return shlex.join(self.spec.command or ())

    def run(self, args: dict[str, Any], ctx: RunContext) -> tuple[Status, str]:
        assert self.spec.command is not None
        payload = json.dumps(args, ensure_ascii=False).encode() + b"\n"
        try:
            outcome = run_command(
                self.spec.command,
                payload,
                cwd=ctx.cwd,
                env=tool_environment(ctx.environ),
                timeout=self.spec.timeout,
                cap=ctx.output_cap,
            )
        except CannotStart as exc:
            return Status.ERROR, f"error: cannot start {self.spec.name}: {exc}"
        return describe_outcome(self.spec, outcome)


def _decode(data: bytes) -> str:
    # A cap can cut a character in two; a replacement mark at the very end is that.
    return data.decode("utf-8", "replace")


def _stdout(outcome: Outcome) -> str:
    text = _decode(outcome.stdout)
    if outcome.stdout_total > len(outcome.stdout):
        text = redact.cut(text.rstrip("\ufffd"))  # no part of a key the cap cut in two
        size, total = human_size(len(outcome.stdout)), human_size(outcome.stdout_total)
        text += f"\n[output cut at {size} of {total}]"
    return text


def _stderr(outcome: Outcome) -> str:
    if not outcome.stderr_tail.strip():
        return ""
    cut = outcome.stderr_total > len(outcome.stderr_tail)
    label = f"stderr (last {human_size(STDERR_TAIL)})" if cut else "stderr"
    said = redact.cut(_decode(outcome.stderr_tail).rstrip(), start=cut, end=False)
    return f"\n{label}:\n{said}"


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
