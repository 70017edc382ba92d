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
from typing import Any

from aimlchat.api.adapters import ChatRequest, OutputFormat
from aimlchat.api.errors_http import error_text
from aimlchat.api.events import (
    CitationDelta,
    Event,
    Finish,
    ProtocolError,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from aimlchat.api.surrogates import mend
from aimlchat.messages import TOOL, Message
from aimlchat.sse import SSEEvent


def payload(event: SSEEvent) -> Any:
    """The JSON an SSE event carries: a chunk, an error object, or `StreamEnd()`."""
    data = event.data.strip()
    if data == "[DONE]":
        return StreamEnd()
    try:
        obj = json.loads(data)
    except ValueError:
        raise ProtocolError(f"malformed event in stream: {data[:80]!r}") from None
    if event.event == "error" and isinstance(obj, dict) and not obj.get("error"):
        obj = {"error": obj}
    return obj


def chunk_events(obj: Any) -> list[Event]:
    """The events one streamed chunk stands for."""
    if isinstance(obj, StreamEnd):
        return [obj]
    if not isinstance(obj, dict):
        raise ProtocolError(f"unexpected event in stream: {json.dumps(obj)[:80]!r}")
    error = _error(obj)
    if error is not None:
        return [*_charge(obj), error]  # a failed reply may be charged all the same
    choices = obj.get("choices")
    return _events(choices if isinstance(choices, list) else [], obj)


def body_events(obj: Any) -> list[Event]:
    """The events a whole non-streamed body stands for, in the order a stream sends them."""
    if not isinstance(obj, dict):
        raise ProtocolError("expected a JSON object")
    error = _error(obj)
    if error is not None:
        return [*_charge(obj), error]  # a failed reply may be charged all the same
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
    return events + _charge(obj)


def _charge(obj: dict[str, Any]) -> list[Event]:
    """The AI/ML API's charge (`meta.usage`), on the last chunk, in a body, or beside an
    error: before the error, so it is counted before the error ends the reply."""
    if "meta" not in obj:
        return []
    from aimlchat.api.aimlapi import meta_charge

    charge = meta_charge(obj)
    return [] if charge is None else [charge]


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
    notes = part.get("annotations")
    if notes and isinstance(notes, list):
        events += url_citations(notes, index)
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


def url_citations(notes: list[Any], index: int) -> list[Event]:
    """A web search's `url_citation` annotations: `{type, url_citation: {url, title,
    start_index, end_index}}`, or with those fields on the annotation itself (some
    servers); URL and title stripped and mended. The Responses adapter reads its annotations
    here too. A stream may repeat them chunk after chunk: `Response` keeps each once."""
    out: list[Event] = []
    for note in notes:
        if not isinstance(note, dict) or note.get("type", "url_citation") != "url_citation":
            continue
        fields = note.get("url_citation")
        fields = fields if isinstance(fields, dict) else note
        url = fields.get("url")
        if not isinstance(url, str) or not url.strip():
            continue
        title = fields.get("title")
        out.append(
            CitationDelta(
                mend(url.strip()),
                mend(title.strip()) if isinstance(title, str) else "",
                _index(fields.get("start_index")),
                _index(fields.get("end_index")),
                index,
            )
        )
    return out


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


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the request ---------------------------------------------------------------------------

NAME = "chat"
PATH = "/chat/completions"


def body(request: ChatRequest) -> dict[str, Any]:
    """The Chat Completions body for a neutral request."""
    out: dict[str, Any] = {"model": request.model}
    msgs = [message_json(m) for m in request.messages]
    if request.system:
        msgs.insert(0, {"role": "system", "content": request.system})
    out["messages"] = msgs
    for key, value in request.params.items():
        if value is not None:
            out[key] = value
    if request.format is not None:
        out["response_format"] = response_format(request.format)
    if request.tools:  # only offered tools; an empty array is refused by some servers
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in request.tools
        ]
    if request.web_search:
        out["web_search_options"] = {"search_context_size": request.web_search}
    out["stream"] = request.stream
    if request.stream:
        # Usage arrives as a last chunk with empty choices; needed for --usage and cost.
        out["stream_options"] = {"include_usage": True}
    else:
        out.pop("stream_options", None)
    return out


def response_format(fmt: OutputFormat) -> dict[str, Any]:
    if fmt.schema is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": fmt.name, "schema": dict(fmt.schema), "strict": fmt.strict},
    }


def format_from_json(obj: Any) -> OutputFormat | None:
    """A `response_format` as a batch record writes it (this API's shape), neutral, so
    the Responses adapter can send it as `text.format`; None when it is not one of the
    two kinds (then it is sent as written, a field the user owns)."""
    if not isinstance(obj, dict):
        return None
    if obj.get("type") == "json_object":
        return OutputFormat()
    spec = obj.get("json_schema")
    if obj.get("type") == "json_schema" and isinstance(spec, dict):
        schema = spec.get("schema")
        if isinstance(schema, dict):
            return OutputFormat(
                schema, str(spec.get("name") or "reply"), spec.get("strict") is True
            )
    return None


def message_json(message: Message) -> dict[str, Any]:
    """One neutral message in the Chat Completions shape. Reasoning and citations stay
    home (DeepSeek refuses reasoning sent back); opaque data of other APIs too."""
    if message.role == TOOL:
        output = message.output
        return {
            "role": "tool",
            "tool_call_id": output.call_id if output else "",
            "content": output.text if output else message.text,
        }
    out: dict[str, Any] = {"role": message.role}
    images = message.images
    if images:
        content: list[dict[str, Any]] = [{"type": "text", "text": message.text}]
        for image in images:
            url: dict[str, Any] = {"url": image.url}
            if image.detail:
                url["detail"] = image.detail
            content.append({"type": "image_url", "image_url": url})
        out["content"] = content
    calls = message.calls
    text = message.text
    # Beside tool calls an empty reply has no content at all: the API refuses a null.
    if not images and (text or not calls):
        out["content"] = text
    if calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.valid_arguments_text()},
            }
            for c in calls
        ]
    return out
