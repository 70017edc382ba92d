"""JSON-RPC 2.0 messages as MCP uses them: build, parse, classify. No I/O."""

from __future__ import annotations

import json
from typing import Any, Literal

from aimlchat.utf8 import without_lone_surrogates

Message = dict[str, Any]
Kind = Literal["request", "response", "notification"]

METHOD_NOT_FOUND = -32601


def request(ident: int, method: str, params: Message | None = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Message | None = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def result(ident: Any, value: Message) -> Message:
    return {"jsonrpc": "2.0", "id": ident, "result": value}


def error(ident: Any, code: int, message: str) -> Message:
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}


def encode(msg: Message) -> bytes:
    # ASCII escapes: lossless, and never an encoding error for a string that is no text.
    return json.dumps(msg, separators=(",", ":")).encode("ascii")


def decode(data: bytes | str) -> list[Message]:
    """One message or a batch of them; ValueError when it is neither. A server's bytes
    that are no UTF-8, and its lone surrogates, become U+FFFD here, before they reach
    history, a request or a terminal."""
    if isinstance(data, bytes):  # a byte that is no UTF-8 is replaced, not fatal
        data = data.decode("utf-8", "replace")
    value = without_lone_surrogates(json.loads(data))
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ValueError("not a JSON-RPC message")
    return items


def kind(msg: Message) -> Kind | None:
    """What a message is; None for something that is none of the three."""
    if "method" in msg:
        return "request" if "id" in msg else "notification"
    if "id" in msg and ("result" in msg or "error" in msg):
        return "response"
    return None


def error_text(msg: Message) -> str | None:
    """A response's error as one line (`message (code)`); None for a result."""
    err = msg.get("error")
    if err is None:
        return None
    if not isinstance(err, dict):
        return str(err)
    return f"{err.get('message') or 'error'} (JSON-RPC error {err.get('code')})"
