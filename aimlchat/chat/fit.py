"""A tool result cut to what the context window has left, so a big output (a log, a file)
costs the model part of its view instead of failing the turn.

Pure: the session tells the user. The result keeps its head (as the runner's byte cap
does) and ends with a note that tells the model what it does not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aimlchat.chat.context import ContextWindow
from aimlchat.chat.tokens import message_tokens
from aimlchat.messages import ASSISTANT, TOOL, Message, with_text
from aimlchat.tools.messages import tool_message
from aimlchat.tools.protocol import cut_note
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.tools.run import ToolResult

NOTE_TOKENS = 40  # what the note and a message's overhead may take
LEFT_FOR_MORE = 0.9  # of the room: the reply after the results may call another tool


def fitted(
    ctx: ContextWindow,
    system: str | None,
    turn: Sequence[Message],
    result: ToolResult,
    label: str | None = None,
) -> tuple[Message, str | None]:
    """`result` as the message to send after `turn` (this turn's messages so far), and a
    line for the user when it had to be cut."""
    message = tool_message(result)
    share = budget(ctx, system, turn)
    if share is None:
        return message, None
    message, left_out = fit_result(ctx, message, share)
    if not left_out:
        return message, None
    name = label or result.call.name or "a tool"
    return message, (
        f"the result of {name} was cut to fit the context window: "
        f"{plural(left_out, 'character')} of {len(result.content):,} left out"
    )


def budget(ctx: ContextWindow, system: str | None, turn: Sequence[Message]) -> int | None:
    """Tokens the next tool result of this turn may take: what the window has left after
    the turn so far, shared among the calls of its last round still unanswered. None when
    the window is not known."""
    room = ctx.room(system, turn)
    return None if room is None else room // max(1, _unanswered(turn))


def _unanswered(turn: Sequence[Message]) -> int:
    """Calls of the turn's last tool round that have no result yet."""
    for i in range(len(turn) - 1, -1, -1):
        calls = turn[i].calls if turn[i].role == ASSISTANT else ()
        if calls:
            answered = {
                output.call_id
                for m in turn[i + 1 :]
                if m.role == TOOL and (output := m.output) is not None
            }
            return sum(1 for c in calls if c.id not in answered)
    return 1


def note(left_out: int, earlier: str | None = None) -> str:
    before = f"; before that, the {earlier}" if earlier else ""
    return f"[cut: {left_out:,} characters left out to fit the context window{before}]"


def fit_result(ctx: ContextWindow, message: Message, budget: int) -> tuple[Message, int]:
    """`message` (a tool result) cut to `budget` tokens, and how many characters went."""
    output = message.output
    if output is None or ctx.estimator.tokens(message_tokens(message)) <= budget:
        return message, 0
    content, earlier = output.text, None
    # A tool's own reader stops at a cap from the same window (tools.protocol) and says
    # so at the end; cutting the tail here must not take that line with it.
    found = cut_note(content)
    if found is not None:
        content, earlier = content[: found.start()], found.group(1)
    est = ctx.estimator
    scale = est.ratio * (1 + est.margin)
    raw_budget = max(0.0, budget * LEFT_FOR_MORE - NOTE_TOKENS) / scale
    keep = _longest_prefix(message, content, raw_budget)
    left_out = len(content) - keep
    head = content[:keep]
    said = note(left_out, earlier)
    cut = f"{head}\n\n{said}" if head else said
    return with_text(message, cut), left_out


def _longest_prefix(message: Message, text: str, raw_budget: float) -> int:
    """The most characters of `text` that `message` may hold within `raw_budget`."""
    low, high = 0, len(text)
    while low < high:  # the estimate grows with the prefix: bisect on its length
        mid = (low + high + 1) // 2
        if message_tokens(with_text(message, text[:mid])) <= raw_budget:
            low = mid
        else:
            high = mid - 1
    return low
