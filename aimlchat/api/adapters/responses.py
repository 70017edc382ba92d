"""The OpenAI Responses shape (`POST /v1/responses`), parsed without I/O.

Models such as openai/gpt-5-5-pro answer only here. The request carries the whole
conversation as `input` items and `store: false`, so no state lives on the server: the
history stays ours, and a conversation moves between this API and Chat Completions.

A stream is typed events (`response.output_text.delta`, `response.completed`, …); a
whole body is the response object, whose `output` items become the same events in the
order a stream sends them. Every reply is choice 0: this API has no `n`.

With `store: false` a reasoning model's thinking would be lost between requests, and its
tool rounds degrade: the body asks for `include: ["reasoning.encrypted_content"]`, each
reasoning item comes back as a `ReasoningItem` (kept opaque in the reply's Reasoning
part), and `input_items` sends it back before that reply's message and calls, exactly as
received. Chat Completions never sees them. A server that refuses the `include` gets the
request once more without it (`plain_body`, `refuses_extras`: the client decides).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aimlchat.api.adapters import ChatRequest, OutputFormat
from aimlchat.api.errors_http import error_text
from aimlchat.api.events import (
    CitationDelta,
    Event,
    Finish,
    ProtocolError,
    ReasoningDelta,
    ReasoningItem,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    count,
)
from aimlchat.api.sse import SSEEvent
from aimlchat.errors import UsageError
from aimlchat.messages import ASSISTANT, TOOL, Image, Message, Reasoning, Text

NAME = "responses"
PATH = "/responses"
ENCRYPTED_REASONING = "reasoning.encrypted_content"
# What a reasoning item needs to go back as input; its status and the rest stay home.
_ITEM_FIELDS = ("id", "type", "encrypted_content", "summary")
# A 4xx about what we asked on our own: the field (OpenAI's `param`, a validator's path)
# or the value ("Encrypted content is not supported with this model").
_REFUSES_EXTRAS = re.compile(r"\binclude\b|encrypted[ _]content", re.IGNORECASE)

# -- the request ---------------------------------------------------------------------------


def body(request: ChatRequest) -> dict[str, Any]:
    """The Responses body for a neutral request; a parameter this API lacks is refused
    here (a UsageError naming its flag) rather than sent for a 400."""
    return _body(request, extras=True)


def plain_body(request: ChatRequest) -> dict[str, Any] | None:
    """The body without what this adapter asks on its own (the encrypted reasoning), for a
    server that refused it; None when `body` asks nothing more (the user's own `-o
    include` named it already, or `-o store=true` keeps the thinking on the server)."""
    out = _body(request, extras=False)
    return out if _wants_encrypted(out) else None


def refuses_extras(message: str) -> bool:
    """Whether a 4xx's message is about what `plain_body` leaves out."""
    return _REFUSES_EXTRAS.search(message) is not None


def _body(request: ChatRequest, *, extras: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _params(out, request.params, request.model)
    out["model"] = request.model
    if request.system:
        out["instructions"] = request.system
    out["input"] = [item for m in request.messages for item in input_items(m, request.model)]
    if request.format is not None:
        text = out["text"] if isinstance(out.get("text"), dict) else {}
        out["text"] = {**text, "format": text_format(request.format)}
    tools = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": dict(t.parameters),
            # Strict mode wants every property required and no others allowed: a
            # declared tool's schema seldom is, and the API refuses it then.
            "strict": False,
        }
        for t in request.tools
    ]
    if request.web_search:
        tools.append({"type": "web_search_preview", "search_context_size": request.web_search})
    if tools:  # only offered tools; an empty array is refused by some servers
        out["tools"] = tools
    reasoning = out.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        reasoning.setdefault("summary", "auto")  # else the thinking is never streamed
    out.setdefault("store", False)  # `-o store=true` may keep it on the server
    if extras and _wants_encrypted(out):
        out["include"] = [*_includes(out), ENCRYPTED_REASONING]
    out["stream"] = request.stream
    return out


def _includes(out: dict[str, Any]) -> list[Any]:
    """The user's own `include` (`-o include=...`), as a list."""
    own = out.get("include")
    return list(own) if isinstance(own, list) else [] if own is None else [own]


def _wants_encrypted(out: dict[str, Any]) -> bool:
    """Nothing is kept on the server, and nobody asked for the thinking to come back yet."""
    return out.get("store") is False and ENCRYPTED_REASONING not in _includes(out)


def _params(out: dict[str, Any], params: Mapping[str, Any], model: str) -> None:
    """The parameters under this API's field names (the table's `responses` column);
    the user's own fields (`-o`, `[body]`) as they are."""
    from aimlchat.settings.params import BY_NAME  # the one table; cheap, and only here

    # max_completion_tokens counts the thinking too, as max_output_tokens does: it wins.
    for key in sorted(params, key=lambda k: k == "max_completion_tokens"):
        value = params[key]
        param = BY_NAME.get(key)
        if value is None:
            continue
        if param is None or not param.body:
            out[key] = value
            continue
        if param.responses == "":
            if value is False or (key == "n" and value == 1):
                continue  # asks for nothing this API would not do anyway
            raise UsageError(
                f"{param.flag}: the Responses API has no such parameter",
                hint=f"{model} is called over /v1/responses; leave {param.flag} out "
                "(or unset it in config.toml)",
            )
        _put(out, param.responses or key, value)


def _put(out: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        inner = out.get(name)
        out[name] = inner = dict(inner) if isinstance(inner, dict) else {}
        out = inner
    out[leaf] = value


def text_format(fmt: OutputFormat) -> dict[str, Any]:
    if fmt.schema is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "name": fmt.name,
        "schema": dict(fmt.schema),
        "strict": fmt.strict,
    }


def input_items(message: Message, model: str | None = None) -> list[dict[str, Any]]:
    """One neutral message as `input` items: a message item (its text and images), an
    item per tool call, or a tool's output. The thinking goes back only as the reasoning
    items this API gave (before the reply's own items, as the API wants them); its text
    and the citations stay home."""
    if message.role == TOOL:
        output = message.output
        return [
            {
                "type": "function_call_output",
                "call_id": output.call_id if output else "",
                "output": output.text if output else message.text,
            }
        ]
    items: list[dict[str, Any]] = []
    calls = message.calls
    if message.role == ASSISTANT:
        for part in message.parts:
            if type(part) is Reasoning and part.opaque is not None:
                items += opaque_items(part.opaque, model)
        text = message.text
        if text or not calls:
            # `annotations` is required by the schema: strict servers refuse it missing.
            content = [{"type": "output_text", "text": text, "annotations": []}]
            items.append({"type": "message", "role": ASSISTANT, "content": content})
    else:
        items.append({"type": "message", "role": message.role, "content": _input_content(message)})
    items += [
        {
            "type": "function_call",
            "call_id": c.id,
            "name": c.name,
            "arguments": c.valid_arguments_text(),
        }
        for c in calls
    ]
    return items


def opaque_items(opaque: Mapping[str, Any], model: str | None = None) -> list[dict[str, Any]]:
    """The reasoning items kept in a Reasoning part's opaque field, when this API made
    them (`{"api": "responses", "item": {...}}`, or `"items": [...]` for several) for this
    model: encrypted reasoning is the model's own, and another one refuses it."""
    if opaque.get("api") != NAME:
        return []
    made_by = opaque.get("model")
    if model is not None and isinstance(made_by, str) and made_by != model:
        return []
    many = opaque.get("items")
    found = many if isinstance(many, list) else [opaque.get("item")]
    return [dict(item) for item in found if isinstance(item, dict)]


def _input_content(message: Message) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if type(part) is Text and (part.text or not message.images):
            content.append({"type": "input_text", "text": part.text})
        elif type(part) is Image:
            image = {"type": "input_image", "image_url": part.url}
            if part.detail:
                image["detail"] = part.detail
            content.append(image)
    return content or [{"type": "input_text", "text": ""}]


# -- the reply -----------------------------------------------------------------------------


def payload(event: SSEEvent) -> Any:
    """The JSON an SSE event carries, its type from the event name when the data has none."""
    data = event.data.strip()
    if data == "[DONE]":  # not this API's, but proxies add it
        return StreamEnd()
    try:
        obj = json.loads(data)
    except ValueError:
        raise ProtocolError(f"malformed event in stream: {data[:80]!r}") from None
    if isinstance(obj, dict) and "type" not in obj and event.event != "message":
        obj = {**obj, "type": event.event}
    return obj


def chunk_events(obj: Any) -> list[Event]:
    """The events of one streamed payload on its own. Whole arguments at a call's end are
    left out here (they would double the pieces): `stream_parser` keeps them when no
    piece came."""
    return _stream_events(obj, None)


class StreamParser:
    """One stream's parser, for what depends on earlier events: which calls had their
    arguments in pieces, which item id is at which output index, whether a reasoning
    summary came before (a new part then starts on a new paragraph), and the response
    object the stream ended with (the body `--json` prints)."""

    def __init__(self) -> None:
        self.pieces: set[int] = set()  # output indexes whose arguments arrived in pieces
        self.items: dict[str, int] = {}  # item id -> output index
        self.calls = False  # a function call was seen
        self.reasoned = False
        self.kept = False  # a reasoning item came at its end (not looked for again)
        self.body: dict[str, Any] | None = None

    def chunk_events(self, obj: Any) -> list[Event]:
        return _stream_events(obj, self)


def stream_parser() -> StreamParser:
    return StreamParser()


def _stream_events(obj: Any, state: StreamParser | None) -> list[Event]:
    if isinstance(obj, StreamEnd):
        return [obj]
    if not isinstance(obj, dict):
        raise ProtocolError(f"unexpected event in stream: {json.dumps(obj)[:80]!r}")
    kind = obj.get("type")
    if kind == "response.output_text.delta" or kind == "response.refusal.delta":
        delta = obj.get("delta")
        return [TextDelta(delta)] if isinstance(delta, str) and delta else []
    if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        delta = obj.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        if state is not None:
            state.reasoned = True
        return [ReasoningDelta(delta)]
    if kind == "response.reasoning_summary_part.added":
        later = state.reasoned if state is not None else bool(count(obj.get("summary_index")))
        return [ReasoningDelta("\n\n")] if later else []
    if kind == "response.function_call_arguments.delta":
        return _arguments_piece(obj, state)
    if kind in ("response.output_item.added", "response.output_item.done"):
        return _item_events(obj, state, done=kind.endswith("done"))
    if kind == "response.output_text.annotation.added":
        return _citations([obj.get("annotation")])
    if kind in ("response.completed", "response.incomplete", "response.failed"):
        response = obj.get("response")
        response = response if isinstance(response, dict) else {}
        if state is not None:
            state.body = response
        called = state is not None and state.calls
        # Reasoning items whose own end event never came (a proxy that drops them).
        kept = [] if state is None or state.kept else _kept_items(response.get("output"))
        end = _end_events(response, kind.removeprefix("response."), called)
        return [*kept, *end, StreamEnd()]
    if kind == "error":
        return [_error(obj.get("error") or obj)]
    if kind is None and obj.get("error"):  # a proxy's Chat Completions-style error
        return [_error(obj["error"])]
    return []  # created, in_progress, *.done, web search progress, …: nothing to show


def _arguments_piece(obj: dict[str, Any], state: StreamParser | None) -> list[Event]:
    delta = obj.get("delta")
    if not isinstance(delta, str) or not delta:
        return []
    at = _output_index(obj, state)
    if state is not None and at is not None:
        state.pieces.add(at)
    return [ToolCallDelta(call=at, arguments=delta)]


def _output_index(obj: dict[str, Any], state: StreamParser | None) -> int | None:
    at = count(obj.get("output_index"))
    if at is None and state is not None:
        at = state.items.get(str(obj.get("item_id")))
    return at


def _item_events(obj: dict[str, Any], state: StreamParser | None, *, done: bool) -> list[Event]:
    """A function call's id and name when its item is added; its arguments too when they
    come whole (in the added item, or at its end when no piece came)."""
    item = obj.get("item")
    if not isinstance(item, dict):
        return []
    if item.get("type") == "reasoning":
        kept = _reasoning_item(item) if done else []
        if kept and state is not None:
            state.kept = True
        return kept
    if item.get("type") != "function_call":
        return []
    at = count(obj.get("output_index"))
    if state is not None:
        state.calls = True
        if at is not None and isinstance(item.get("id"), str):
            state.items[item["id"]] = at
    arguments = _arguments(item.get("arguments"))
    if done and (state is None or at is None or at in state.pieces):
        arguments = ""
    if arguments and state is not None and at is not None:
        state.pieces.add(at)
    return [
        ToolCallDelta(
            call=at, id=_str(item.get("call_id")), name=_str(item.get("name")), arguments=arguments
        )
    ]


def _end_events(response: dict[str, Any], status: str, called: bool) -> list[Event]:
    """What the final response object says: usage, then how it ended (or why it failed)."""
    events: list[Event] = []
    usage = _usage(response.get("usage"))
    if usage is not None:
        events.append(usage)
    status = str(response.get("status") or status)
    if status in ("failed", "cancelled") or (status != "incomplete" and response.get("error")):
        error = response.get("error")  # after the usage: what a failed reply cost is known
        events.append(_error(error) if error else StreamError(f"the response {status}"))
        return events
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        finish = "length" if reason in (None, "max_output_tokens") else str(reason)
    else:
        output = response.get("output")
        items = output if isinstance(output, list) else []
        called = called or any(
            isinstance(i, dict) and i.get("type") == "function_call" for i in items
        )
        finish = "tool_calls" if called else "stop"
    events.append(Finish(finish))
    return events


def body_events(obj: Any) -> list[Event]:
    """The events a whole (unstreamed) response object stands for."""
    if not isinstance(obj, dict):
        raise ProtocolError("expected a JSON object")
    if obj.get("error") and not isinstance(obj.get("output"), list):
        return [_error(obj["error"])]
    if "choices" in obj:  # a proxy that answered in the Chat Completions shape
        from aimlchat.api.adapters import chat_completions

        return chat_completions.body_events(obj)
    output = obj.get("output")
    if not isinstance(output, list):
        raise ProtocolError("no 'output' in the reply")
    events: list[Event] = []
    for at, item in enumerate(output):
        if isinstance(item, dict):
            events += _output_item(item, at)
    return events + _end_events(obj, "completed", False)


def _output_item(item: dict[str, Any], at: int) -> list[Event]:
    kind = item.get("type")
    if kind == "reasoning":
        texts = _texts(item.get("summary"), "summary_text") or _texts(
            item.get("content"), "reasoning_text"
        )
        thinking: list[Event] = [ReasoningDelta("\n\n".join(texts))] if texts else []
        return thinking + _reasoning_item(item)
    if kind == "message":
        events: list[Event] = []
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
            if isinstance(text, str) and text:
                events.append(TextDelta(text))
            notes = part.get("annotations")
            events += _citations(notes if isinstance(notes, list) else [])
        return events
    if kind == "function_call":
        return [
            ToolCallDelta(
                call=at,
                id=_str(item.get("call_id")),
                name=_str(item.get("name")),
                arguments=_arguments(item.get("arguments")),
            )
        ]
    return []


def _reasoning_item(item: dict[str, Any]) -> list[Event]:
    """A reasoning item to send back, as received; only one with its encrypted content:
    with `store: false` an item the server cannot read is refused ("not found")."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str) or not encrypted:
        return []
    kept = {k: item[k] for k in _ITEM_FIELDS if k in item}
    if not isinstance(kept.get("summary"), list):
        kept["summary"] = []  # required as input
    return [ReasoningItem({"api": NAME, "item": kept})]


def _kept_items(output: Any) -> list[Event]:
    items = output if isinstance(output, list) else []
    return [
        e
        for item in items
        if isinstance(item, dict) and item.get("type") == "reasoning"
        for e in _reasoning_item(item)
    ]


def _texts(parts: Any, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"]
        for p in parts
        if isinstance(p, dict)
        and p.get("type") == kind
        and isinstance(p.get("text"), str)
        and p["text"]
    ]


def _citations(notes: list[Any]) -> list[Event]:
    """`url_citation` annotations (flat here; nested under `url_citation` in Chat
    Completions, which some proxies keep)."""
    out: list[Event] = []
    for note in notes:
        if not isinstance(note, dict) or note.get("type") != "url_citation":
            continue
        inner = note.get("url_citation")
        cite = inner if isinstance(inner, dict) else note
        url = cite.get("url")
        if isinstance(url, str) and url:
            title = cite.get("title")
            out.append(
                CitationDelta(
                    url,
                    title if isinstance(title, str) else "",
                    count(cite.get("start_index")),
                    count(cite.get("end_index")),
                )
            )
    return out


def _usage(value: Any) -> Usage | None:
    """input/output tokens as prompt/completion, the thinking where `Usage` looks for it;
    the server's object kept whole beside them."""
    if not isinstance(value, dict):
        return None
    prompt, completion, total = (
        count(value.get(k)) for k in ("input_tokens", "output_tokens", "total_tokens")
    )
    if prompt is None and completion is None and total is None:
        return Usage.from_json(value)  # a proxy that kept the Chat Completions names
    prompt, completion = prompt or 0, completion or 0
    details = dict(value)
    output_details = value.get("output_tokens_details")
    if isinstance(output_details, dict) and "reasoning_tokens" in output_details:
        thinking = {"reasoning_tokens": output_details["reasoning_tokens"]}
        details = {"completion_tokens_details": thinking, **details}
    return Usage(
        prompt, completion, total if total is not None else prompt + completion, details=details
    )


def _error(err: Any) -> StreamError:
    code = err.get("code") if isinstance(err, dict) else None
    return StreamError(error_text(err), str(code) if code is not None else None)


def _arguments(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)  # some send the object


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
