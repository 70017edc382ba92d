"""The OpenAI chat-completions shapes, parsed without I/O: JSON in, typed events out.

A streamed chunk and a whole non-streamed body go through the same `choices` parser,
so both become the same events. Real servers (the AI/ML API, LiteLLM, vLLM, llama.cpp,
OpenRouter) bend the shape: `content: null`, `choices: []` beside the usage, a
`delta: {}` carrying only the role, usage inside a choice, `finish_reason` on the chunk
with the last text, extra fields. All of that is taken in stride; only what cannot be a
chat completion at all is a `ProtocolError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import field
from typing import Any

from aimlchat.api.errors_http import error_text
from aimlchat.api.sse import SSEEvent
from aimlchat.errors import ApiError
from aimlchat.record import record


class ProtocolError(ApiError):
    """The server's answer is not an OpenAI-compatible chat completion."""

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
            _count(obj.get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        )
        if p is None and c is None and t is None:
            return None
        p, c = p or 0, c or 0
        return cls(p, c, t if t is not None else p + c, details=obj)

    @property
    def reasoning_tokens(self) -> int | None:
        """The server's count of the thinking, when it gives one."""
        details = (self.details or {}).get("completion_tokens_details")
        return _count(details.get("reasoning_tokens")) if isinstance(details, dict) else None


@record(frozen=True)
class StreamError:
    message: str
    code: str | None = None


@record(frozen=True)
class Done:
    """`data: [DONE]`: the stream's own end marker."""


ChatEvent = TextDelta | ReasoningDelta | ToolCallDelta | Finish | Usage
Event = ChatEvent | StreamError | Done


def payload(event: SSEEvent) -> Any:
    """The JSON an SSE event carries: a chunk, an error object, or `Done()`."""
    data = event.data.strip()
    if data == "[DONE]":
        return Done()
    try:
        obj = json.loads(data)
    except ValueError:
        raise ProtocolError(f"malformed event in stream: {data[:80]!r}") from None
    if event.event == "error" and isinstance(obj, dict) and not obj.get("error"):
        obj = {"error": obj}
    return obj


def chunk_events(obj: Any) -> list[Event]:
    """The events one streamed chunk stands for."""
    if isinstance(obj, Done):
        return [obj]
    if not isinstance(obj, dict):
        raise ProtocolError(f"unexpected event in stream: {json.dumps(obj)[:80]!r}")
    error = _error(obj)
    if error is not None:
        return [error]
    choices = obj.get("choices")
    return _events(choices if isinstance(choices, list) else [], obj)


def body_events(obj: Any) -> list[Event]:
    """The events a whole non-streamed body stands for, in the order a stream sends them."""
    if not isinstance(obj, dict):
        raise ProtocolError("expected a JSON object")
    error = _error(obj)
    if error is not None:
        return [error]
    choices = obj.get("choices")
    if not isinstance(choices, list):
        raise ProtocolError("no 'choices' in the reply")
    return _events(choices, obj)


def _events(choices: list[Any], obj: dict[str, Any]) -> list[Event]:
    # Runs once per streamed token: the common case (one choice, no usage) stays cheap.
    events: list[Event] = []
    usage = _usage(obj.get("usage"))
    for position, choice in enumerate(choices):
        if isinstance(choice, dict):
            events += choice_events(choice, position)
            if usage is None and choice.get("usage"):
                usage = _usage(choice["usage"])
    if usage is None and isinstance(obj.get("x_groq"), dict):
        usage = _usage(obj["x_groq"].get("usage"))
    if usage is not None:
        events.append(usage)
    return events


def choice_events(choice: dict[str, Any], position: int) -> list[Event]:
    """One choice of a chunk (`delta`) or of a body (`message`): the one parser for both.

    A missing or unusable `index` means the choice's position in the list. A body's tool
    calls are numbered by position (each is whole); a streamed one without an `index`
    keeps None, for the assembler to place by its id."""
    index = _index(choice.get("index"))
    if index is None:
        index = position
    delta = choice.get("delta")
    whole = not isinstance(delta, dict)  # a body's message: each tool call comes whole
    part = delta if isinstance(delta, dict) else choice.get("message")
    if not isinstance(part, dict):
        part = {"content": choice.get("text")}  # the legacy completions shape
    events: list[Event] = []
    # OpenRouter sends `reasoning` and `reasoning_details` both, the same thinking twice:
    # the details count only when no other field carries it.
    reasoning = part.get("reasoning_content") or part.get("reasoning")
    if reasoning:
        reasoning = _text(reasoning)
    elif details := part.get("reasoning_details"):
        reasoning = _details_text(details)
    if reasoning:
        events.append(ReasoningDelta(reasoning, index))
    text = part.get("content")
    if text and (text := _text(text)):
        events.append(TextDelta(text, index))
    calls = part.get("tool_calls")
    if calls and isinstance(calls, list):
        events += [
            _tool_call(call, n if whole else _index(call.get("index")), index)
            for n, call in enumerate(calls)
            if isinstance(call, dict)
        ]
    reason = choice.get("finish_reason")
    if reason:
        events.append(Finish(reason if isinstance(reason, str) else json.dumps(reason), index))
    return events


def _usage(value: Any) -> Usage | None:
    return Usage.from_json(value) if value else None


def _tool_call(call: dict[str, Any], n: int | None, index: int) -> ToolCallDelta:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = json.dumps(arguments)  # some servers send the object itself
    return ToolCallDelta(
        call=n,
        id=_str_or_none(call.get("id")),
        name=_str_or_none(function.get("name")),
        arguments=arguments or "",
        index=index,
    )


def _error(obj: dict[str, Any]) -> StreamError | None:
    if obj.get("error"):
        err = obj["error"]
    elif obj.get("object") == "error":  # vLLM's error body
        err = obj
    else:
        return None
    code = err.get("code") if isinstance(err, dict) else None
    return StreamError(error_text(err), str(code) if code is not None else None)


def _text(value: Any) -> str:
    """Content as a string, or as a list of parts (`[{"type": "text", "text": …}]`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


# The readable parts of `reasoning_details` and where each keeps its text; the others
# (`reasoning.encrypted`, opaque `data` for the provider) are not thinking to show.
_DETAIL_TEXT = {"reasoning.text": "text", "reasoning.summary": "summary"}


def _details_text(value: Any) -> str:
    """The thinking in `reasoning_details` (OpenRouter, the AI/ML API's reasoning models)."""
    if not isinstance(value, list):
        return ""
    return "".join(
        text
        for p in value
        if isinstance(p, dict)
        and (key := _DETAIL_TEXT.get(str(p.get("type"))))
        and isinstance(text := p.get(key), str)
    )


def _index(value: Any) -> int | None:
    """An `index` as a number (some servers send 1.0 or "1"); None when there is none."""
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
