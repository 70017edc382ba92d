"""The messages a tool step adds to a conversation, in the shape the API accepts back,
and the NDJSON events that report it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aimlchat.messages import ToolCall

if TYPE_CHECKING:  # the runner (processes, consent) loads only when a tool is offered
    from aimlchat.tools.run import ToolResult

Message = dict[str, Any]


def assistant_message(text: str, calls: Sequence[ToolCall]) -> Message:
    """The model's reply that asked for the calls. `content` is left out when the reply
    had no text: the API's schema allows that beside `tool_calls` but not a null."""
    message: Message = {"role": "assistant"}
    if text:
        message["content"] = text
    message["tool_calls"] = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.valid_arguments_text()},
        }
        for call in calls
    ]
    return message


def tool_message(result: ToolResult) -> Message:
    return {"role": "tool", "tool_call_id": result.call.id, "content": result.content}


def call_event(call: ToolCall) -> dict[str, Any]:
    """`--ndjson`'s `tool_call` event."""
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments_text}


def result_event(result: ToolResult) -> dict[str, Any]:
    """`--ndjson`'s `tool_result` event."""
    return {
        "type": "tool_result",
        "id": result.call.id,
        "name": result.call.name,
        "status": result.status.value,
        "seconds": result.seconds,
        "content": result.content,
    }


def calls_text(tool_calls: Any) -> str:
    """A message's `tool_calls` as `→ name {arguments}` lines, for showing history."""
    lines = []
    for call in tool_calls if isinstance(tool_calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        function = function if isinstance(function, dict) else {}
        lines.append(f"→ {function.get('name', '?')} {function.get('arguments', '')}\n")
    return "".join(lines)
