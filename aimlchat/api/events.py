"""The events every API adapter turns its wire into, and `Response` consumes.

A streamed reply and a whole one, over Chat Completions or Responses, become the same
events: text, reasoning, pieces of tool calls, citations, a finish reason per choice,
usage, the charge, a server error, and the end marker. Nothing here knows a wire shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from aimlchat.errors import ApiError
from aimlchat.record import record


class ProtocolError(ApiError):
    """The server's answer is not the API shape it was asked for."""

    def __init__(self, what: str) -> None:
        super().__init__(f"invalid response from server: {what}")


@record(frozen=True)
class TextDelta:
    text: str
    index: int = 0  # the choice


@record(frozen=True)
class ReasoningDelta:
    """The model's thinking (`reasoning_content`, `reasoning` or `reasoning_details`), kept
    apart from its answer."""

    text: str
    index: int = 0


@record(frozen=True)
class ToolCallDelta:
    """A piece of one tool call: `arguments` arrive split over many chunks, joined by `call`."""

    # The call's position among the choice's tool calls; None when a streamed piece has
    # no `index` (Gemini): then its id, or the lack of one, says which call it is.
    call: int | None
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    index: int = 0


@record(frozen=True)
class CitationDelta:
    """A source the reply cites (`url_citation`), as it arrives."""

    url: str
    title: str = ""
    start: int | None = None
    end: int | None = None
    index: int = 0


@record(frozen=True)
class ReasoningItem:
    """Thinking state one adapter owns, to send back with the next request (a Responses
    reasoning item with its `encrypted_content`: `{"api": "responses", "item": {...}}`).
    Stored with the reply, never shown, never sent to another API shape."""

    opaque: Mapping[str, Any]
    index: int = 0


@record(frozen=True)
class Finish:
    reason: str
    index: int = 0


@record(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    # The server's whole usage object (token details and all), for --json.
    details: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: Any) -> Usage | None:
        if not isinstance(obj, dict):
            return None
        p, c, t = (
            count(obj.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        )
        if p is None and c is None and t is None:
            return None
        p, c = p or 0, c or 0
        return cls(p, c, t if t is not None else p + c, details=obj)

    @property
    def reasoning_tokens(self) -> int | None:
        """The server's count of the thinking, when it gives one."""
        details = (self.details or {}).get("completion_tokens_details")
        return count(details.get("reasoning_tokens")) if isinstance(details, dict) else None


@record(frozen=True)
class Charge:
    """What the server says the reply cost (the AI/ML API's `meta.usage`): USD and
    credits, each None when not sent. Read by the adapters from a stream's last chunk or
    a body; the headers of a whole reply say the same (api.aimlapi, `Response.charge`)."""

    usd: float | None
    credits: int | None = None


@record(frozen=True)
class ReplyInfo:
    """Not an event of the reply: what the client knows of the HTTP answer once it has
    begun (its headers), put first in the reply's source for `Response` to keep."""

    headers: Mapping[str, str]


@record(frozen=True)
class StreamError:
    message: str
    code: str | None = None


@record(frozen=True)
class StreamEnd:
    """The stream's own end marker (`data: [DONE]`, `response.completed`)."""


ChatEvent = (
    TextDelta
    | ReasoningDelta
    | ReasoningItem
    | ToolCallDelta
    | CitationDelta
    | Finish
    | Usage
    | Charge
)
Event = ChatEvent | StreamError | StreamEnd


def count(value: Any) -> int | None:
    """A token count as a number (some servers send 12.0 or "12"); None when it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
