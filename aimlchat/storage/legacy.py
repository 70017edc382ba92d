"""0.2.0's message row, frozen: how aimlchat 0.2.x stores a message, both ways.

0.2.x kept each message in the Chat Completions shape, in four columns it still reads:
- `content`: JSON, a string or a list of `{"type": "text", "text"}` and
  `{"type": "image_url", "image_url": {"url", "detail"?}}` parts;
- `reasoning`: the model's thinking as plain text (shown, never sent);
- `tool_calls`: JSON, `[{"id", "type": "function", "function": {"name", "arguments"}}]`;
- `tool_call_id`: the call a `tool` message answers.

`read` turns them into a neutral message: migration m007 uses it, and so does reading a
row 0.2.x added after the upgrade (`parts` empty) or a 0.2.x file on a read-only medium.
`columns` fills them from a neutral message: every new row carries them beside `parts`,
so 0.2.x can still continue a conversation 0.3 wrote.

A copy, not a use, of the Chat Completions adapter: a migration must read the rows the
same way whatever later adapters become, and storage does not depend on `api/`. The
wire-looking names here are 0.2.0's stored format, not a request. Do not change how a
row is read; a new format is a new migration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aimlchat.messages import (
    ASSISTANT,
    TOOL,
    Image,
    Message,
    Part,
    Reasoning,
    Text,
    ToolCall,
    ToolOutput,
)
from aimlchat.record import record

# 0.2.0's columns for a message, in the order `read` takes them.
COLUMNS = "role, content, reasoning, tool_calls, tool_call_id, text"


@record(frozen=True)
class Columns:
    """What 0.2.0 would have stored for a message (its `text` column is search's)."""

    content: str  # JSON
    reasoning: str | None
    tool_calls: str | None  # JSON
    tool_call_id: str | None


# -- neutral -> 0.2.0 ----------------------------------------------------------------------


def columns(message: Message) -> Columns:
    """0.2.0's columns for a message, in the shape 0.2.0's `StoredMessage.for_api` turns
    into a context the API accepts. What 0.2.0 had no place for (citations, another
    API's opaque data) stays in `parts` only; a call's arguments that are not JSON are
    stored as `{}`, as 0.3 sends them."""
    if message.role == TOOL:
        output = message.output
        text = output.text if output else message.text
        return Columns(encode(text), None, None, output.call_id if output else "")
    content: Any = message.text
    if message.images:
        content = [{"type": "text", "text": message.text}]
        for image in message.images:
            url = {"url": image.url}
            if image.detail:
                url["detail"] = image.detail
            content.append({"type": "image_url", "image_url": url})
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.valid_arguments_text()},
        }
        for c in message.calls
    ]
    return Columns(
        encode(content), message.reasoning or None, encode(calls) if calls else None, None
    )


# -- 0.2.0 -> neutral ----------------------------------------------------------------------


def read(
    role: str,
    content: str,
    reasoning: str | None,
    tool_calls: str | None,
    tool_call_id: str | None,
    text: str | None,
) -> Message:
    """A row as 0.2.0 wrote it, as a neutral message. Never raises: unreadable
    `tool_calls` are dropped (text, images and thinking kept; the loader then leaves
    their orphaned outputs out of the context), and a row that does not parse at all
    keeps its text and thinking."""
    calls: list[Any] = []
    if tool_calls:
        try:
            parsed = json.loads(tool_calls)
        except ValueError:
            parsed = None
        calls = parsed if isinstance(parsed, list) else []
    try:
        obj: dict[str, Any] = {"role": role, "content": decode(content)}
        if calls:
            obj["tool_calls"] = calls
        if tool_call_id is not None:
            obj["tool_call_id"] = tool_call_id
        return from_020(obj, reasoning=reasoning or None)
    except Exception:  # anything at all: an upgrade must not fail on one odd row
        said = text or (plain_text(decode(content)) if isinstance(content, str) else "")
        kept: list[Part] = [Reasoning(reasoning)] if reasoning else []
        return Message(role, (*kept, Text(said or "")))


def from_020(obj: Mapping[str, Any], *, reasoning: str | None = None) -> Message:
    """A 0.2.0 message as its `for_api` made it (the Chat Completions shape) as a
    neutral one. Takes every shape 0.2.0 wrote, and skips what no API would take (an
    image part without a URL)."""
    role = str(obj.get("role") or "user")
    if role == TOOL:
        said = _text(obj.get("content")) if obj.get("content") is not None else ""
        return Message(TOOL, (ToolOutput(str(obj.get("tool_call_id") or ""), said),))
    parts: list[Part] = [Reasoning(reasoning)] if reasoning else []
    content = obj.get("content")
    if isinstance(content, list):
        for p in content:
            if not isinstance(p, dict):
                continue
            if p.get("type") == "text":
                parts.append(Text(str(p.get("text", ""))))
            elif p.get("type") == "image_url":
                image = _image(p.get("image_url"))
                if image is not None:
                    parts.append(image)
    elif content is not None:
        parts.append(Text(str(content)))
    calls = obj.get("tool_calls")
    for n, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict):
            continue
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        parts.append(
            ToolCall(str(call.get("id") or f"call_{n}"), str(fn.get("name") or ""), arguments or "")
        )
    if role == ASSISTANT and not parts:
        parts.append(Text(""))
    return Message(role, tuple(parts))


def _image(value: Any) -> Image | None:
    """An `image_url` value (a dict, or a bare URL string); None when it holds no URL
    (`null`, a number: a damaged row), which would otherwise become the URL "None"."""
    if isinstance(value, str):
        return Image(value) if value else None
    if not isinstance(value, dict):
        return None
    url, detail = value.get("url"), value.get("detail")
    if not isinstance(url, str) or not url:
        return None
    return Image(url, detail if isinstance(detail, str) else None)


def _text(value: Any) -> str:
    """A tool's content as a string, or as a list of parts (`[{"type": "text", ...}]`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


# -- the `content` column ------------------------------------------------------------------


def encode(content: Any) -> str:
    # Always JSON, so a string and a list of parts come back as what they were.
    return json.dumps(content, ensure_ascii=False)


def decode(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content  # written by hand or by an older tool: keep it as text


def plain_text(content: Any) -> str:
    """What 0.2.0's `content` says, for search and titles: its text parts, images left out."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return "" if content is None else str(content)
