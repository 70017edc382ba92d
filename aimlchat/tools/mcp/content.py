"""A tools/call result as text for the model.

Text content is passed on as it is, and so is an embedded text resource (under a line
naming it: filesystem and fetch servers answer so); every other kind (image, audio, a
binary resource, a resource link) becomes one line saying what it was, since a tool
result reaches the model as text. `structuredContent` is the same data as the text a
conforming server also sends, so it is given only when there is no content beside it.
`isError` is kept: the model must be told its call failed.
"""

from __future__ import annotations

import json
from typing import Any

from aimlchat.record import record
from aimlchat.words import elide

_PREVIEW = 80  # characters of a URI or name in a summary line


@record(frozen=True)
class CallResult:
    text: str
    is_error: bool = False
    timed_out: bool = False


def from_result(result: Any) -> CallResult:
    if not isinstance(result, dict):
        return CallResult("the server's result is not an object", is_error=True)
    items = result.get("content")
    lines = [_line(item) for item in items] if isinstance(items, list) else []
    structured = result.get("structuredContent")
    if not lines and structured is not None:
        lines.append(json.dumps(structured, ensure_ascii=False, separators=(",", ":")))
    return CallResult("\n".join(lines), is_error=result.get("isError") is True)


def _line(item: Any) -> str:
    if not isinstance(item, dict):
        return "[content that is not an object]"
    kind = item.get("type")
    if kind == "text":
        return str(item.get("text", ""))
    if kind in ("image", "audio"):
        return f"[{kind}: {item.get('mimeType') or 'unknown type'}, {_size(item.get('data'))}]"
    if kind == "resource":
        res = item.get("resource")
        res = res if isinstance(res, dict) else {}
        body = res.get("text")
        named = f"{elide(res.get('uri'), _PREVIEW)}{_mime(res)}"
        if isinstance(body, str):  # a text resource is text: the model gets it, named
            return f"[resource: {named}]\n{body}"
        return f"[resource: {named}, {_size(res.get('blob'))}]"
    if kind == "resource_link":
        name = item.get("title") or item.get("name")
        named = f"{elide(name, _PREVIEW)} " if name else ""
        return f"[resource link: {named}<{elide(item.get('uri'), _PREVIEW)}>{_mime(item)}]"
    return f"[{elide(kind, _PREVIEW)} content]"


def _size(data: Any) -> str:
    """The decoded size of base64 `data`, without decoding it."""
    if not isinstance(data, str):
        return "no data"
    size = len(data) * 3 // 4 - data[-2:].count("=")
    return f"{size} bytes"


def _mime(obj: dict[str, Any]) -> str:
    mime = obj.get("mimeType")
    return f" ({elide(mime, _PREVIEW)})" if mime else ""
