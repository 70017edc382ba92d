"""`/context`: what a request sends, share by share, and how the numbers were made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aimlchat.chat.context import Plan
from aimlchat.chat.tokens import Estimator, fixed_tokens, tokens_text
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.api.adapters import ToolSchema


def describe(
    plan: Plan,
    estimator: Estimator,
    tools: Sequence[ToolSchema] | None = None,
    attached: str | None = None,
) -> str:
    """`/context`: what the last (or next) request sends, and how the numbers were made.
    `tools`: the schemas offered, whose share of the fixed part gets its own line;
    `attached`: what waits for the next message ("2 files"), which is then `plan.new`."""
    window, total = plan.window, plan.prompt_tokens + plan.reserve
    if window.length is None:
        head, share = "window unknown (not in the catalogue; a server error will say)", ""
    else:
        head = f"window {tokens_text(window.length)} ({window.source})"
        share = f" of {tokens_text(window.length)} ({100 * total // window.length}%)"
    sent = len(plan.history) - plan.start
    history = f"{sent} of {plural(len(plan.history), 'message')}"
    if plan.start:
        history += f" ({plan.start} earlier left out, ~{tokens_text(plan.left_out_tokens)})"
    seen = estimator.observations
    calibrated = f"x{estimator.ratio:.2f} from {plural(seen, 'server count')}"
    return "\n".join(
        [
            f"{window.model}: {head}",
            *_fixed_lines(plan, estimator, tools),
            f"  history  ~{tokens_text(plan.history_tokens)}  {history}",
            _new_line(plan, attached),
            f"  reply    {tokens_text(plan.reserve)} reserved",
            f"  total    ~{tokens_text(total)}{share}",
            f"  estimate: per character, {calibrated if seen else 'not yet calibrated'}, "
            f"+{estimator.margin:.0%} margin",
            *_over(plan, total, attached),
        ]
    )


def _new_line(plan: Plan, attached: str | None) -> str:
    if attached:
        return f"  attached ~{tokens_text(plan.new_tokens)}  {attached} (/file)"
    return f"  new      ~{tokens_text(plan.new_tokens)}  {plural(len(plan.new), 'message')}"


def _over(plan: Plan, total: int, attached: str | None) -> list[str]:
    """Sending now would be refused: say why, and what to do, before the user types."""
    length = plan.window.length
    if length is None or total <= length:
        return []
    fix = "/file rm N removes one (/file lists them)"
    if attached and plan.new_tokens > length:
        return [f"  the attachments alone are over the window: {fix}"]
    if attached:
        return [f"  with the attachments the request is over the window: {fix}"]
    return ["  over the window even before your message: sending now would be refused"]


def _fixed_lines(plan: Plan, est: Estimator, tools: Sequence[ToolSchema] | None) -> list[str]:
    """What every request carries, each share named; the overhead is the rest."""
    bare = fixed_tokens(None)
    system = est.tokens(fixed_tokens(plan.system) - bare) if plan.system else 0
    schemas = est.tokens(fixed_tokens(None, tools) - bare) if tools else 0
    overhead = max(0, plan.fixed_tokens - system - schemas)
    lines = [f"  system   ~{tokens_text(system)}" if plan.system else "  system   none"]
    if tools:
        lines.append(f"  tools    ~{tokens_text(schemas)}  {plural(len(tools), 'tool schema')}")
    return [*lines, f"  overhead ~{tokens_text(overhead)}  per request (the chat template)"]
