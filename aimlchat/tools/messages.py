"""The messages a tool step adds to a conversation, and the NDJSON events that report it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aimlchat.messages import Message, ToolCall, tool_output

if TYPE_CHECKING:  # the runner (processes, consent) loads only when a tool is offered
    from aimlchat.tools.run import ToolResult


def tool_message(result: ToolResult) -> Message:
    """A call's result as the model gets it."""
    return tool_output(result.call.id, result.content)


def call_event(call: ToolCall, label: str | None = None) -> dict[str, Any]:
    """`--ndjson`'s `tool_call` event: `name` as the model sent it, `label` as people write
    it (`aiml.search` for the model's `aiml__search`)."""
    return {
        "type": "tool_call",
        "id": call.id,
        "name": call.name,
        "label": label or call.name,
        "arguments": call.arguments_text,
    }


def result_event(result: ToolResult, label: str | None = None) -> dict[str, Any]:
    """`--ndjson`'s `tool_result` event."""
    return {
        "type": "tool_result",
        "id": result.call.id,
        "name": result.call.name,
        "label": label or result.call.name,
        "status": result.status.value,
        "seconds": result.seconds,
        "content": result.content,
    }


def calls_text(calls: Sequence[ToolCall]) -> str:
    """A message's tool calls as `→ name {arguments}` lines, for showing history."""
    return "".join(f"→ {call.name or '?'} {call.arguments_text}\n" for call in calls)
