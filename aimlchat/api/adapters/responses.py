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
received. Chat Completions never sees them. A server that refuses the `include`, or the
reasoning summary asked with an effort (OpenAI's, for an organisation not verified), gets
the request once more without it (`refused_extras`, `plain_body`: the client decides and
remembers). Parameters this API lacks (`--seed`, `-n`, …) are left out, and `unsent`
names them for the client's one notice each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aimlchat.api.adapters import ChatRequest, OutputFormat
from aimlchat.api.errors_http import error_text
from aimlchat.api.events import (
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
from aimlchat.messages import ASSISTANT, TOOL, Image, Message, Reasoning, Text
from aimlchat.sse import SSEEvent

NAME = "responses"
PATH = "/responses"
ENCRYPTED_REASONING = "reasoning.encrypted_content"
# What a reasoning item needs to go back as input; its status and the rest stay home.
_ITEM_FIELDS = ("id", "type", "encrypted_content", "summary")
# What the adapter asks on its own, and how a 4xx names it when a server refuses it: the
# field (OpenAI's `param`, a validator's path) or the value ("Encrypted content is not
# supported with this model"; "Your organization must be verified to generate reasoning
# summaries").
INCLUDE, SUMMARY = "include", "summary"
_REFUSALS = {
    INCLUDE: re.compile(r"\binclude\b|encrypted[ _]content", re.IGNORECASE),
    SUMMARY: re.compile(r"\bsummar(y|ies)\b|organi[sz]ation must be verified", re.IGNORECASE),
}

# -- the request ---------------------------------------------------------------------------


def body(request: ChatRequest) -> dict[str, Any]:
    """The Responses body for a neutral request; a parameter this API lacks is left out
    (`unsent` names them, for the client's notice)."""
    return _body(request, frozenset())


def plain_body(request: ChatRequest, without: frozenset[str]) -> dict[str, Any] | None:
    """The body without the extras named in `without` (INCLUDE: the encrypted reasoning;
    SUMMARY: the reasoning summary), for a server that refused them; None when `body` has
    none of them to leave out (the user asked for them: `-o include=...`, `-o
    reasoning=...`; or `-o store=true` keeps the thinking on the server)."""
    out = _body(request, without)
    return out if out != _body(request, frozenset()) else None


def refused_extras(message: str) -> frozenset[str]:
    """The extras (INCLUDE, SUMMARY) a 4xx's message is about."""
    return frozenset(name for name, words in _REFUSALS.items() if words.search(message))


def unsent(request: ChatRequest) -> dict[str, str]:
    """The parameters this API has no field for, that ask for something (`--seed 1`, `-n
    2`; not `-n 1` nor `--logprobs false`): their names, each with the line that says it
    is left out. They are dropped rather than refused: a value in config.toml would
    otherwise make every model on this API unusable."""
    from aimlchat.settings.params import BY_NAME

    out: dict[str, str] = {}
    for key, value in request.params.items():
        param = BY_NAME.get(key)
        if param is None or not param.body or param.responses != "" or _asks_nothing(key, value):
            continue
        flag = next((f for f in param.option_flags if not f.startswith("--")), param.flag)
        extra = "; one reply comes" if key == "n" else ""
        out[key] = f"{flag} is not sent: the Responses API has no such parameter{extra}"
    return out


def _asks_nothing(key: str, value: Any) -> bool:
    """What this API would do anyway: nothing to send and nothing to say."""
    return value is None or value is False or (key == "n" and value == 1)


def _body(request: ChatRequest, without: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _params(out, request.params)
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
    if isinstance(reasoning, dict) and reasoning.get("effort") and SUMMARY not in without:
        reasoning.setdefault("summary", "auto")  # else the thinking is never streamed
    out.setdefault("store", False)  # `-o store=true` may keep it on the server
    if INCLUDE not in without and _wants_encrypted(out):
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


def _params(out: dict[str, Any], params: Mapping[str, Any]) -> None:
    """The parameters under this API's field names (the table's `responses` column),
    those it lacks left out; the user's own fields (`-o`, `[body]`) as they are."""
    from aimlchat.settings.params import BY_NAME  # the one table; cheap, and only here

    # max_completion_tokens counts the thinking too, as max_output_tokens does: it wins.
    for key in sorted(params, key=lambda k: k == "max_completion_tokens"):
        value = params[key]
        param = BY_NAME.get(key)
        if value is None:
            continue
        if param is None or not param.body:
            out[key] = value
        elif param.responses != "":
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
            # `detail` is required by OpenAI's schema; strict servers refuse it missing.
            detail = part.detail or "auto"
            content.append({"type": "input_image", "image_url": part.url, "detail": detail})
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


Key = tuple[str, Any]  # an output item: ("id", its id), else ("at", its output index)
_SUMMARY_DELTA = "response.reasoning_summary_text.delta"
_THINKING_DELTA = "response.reasoning_text.delta"


class StreamParser:
    """One stream's parser: what an event means depends on the events before it.

    Servers do not all stream alike. OpenAI sends deltas, then each item whole at its
    end (`output_item.done`), then the whole response (`response.completed`); older
    LiteLLM fakes a stream for a model that has none (o1-pro) with only that last event;
    some proxies send only the items' ends. So what the deltas said is noted, per output
    item where it matters, and an item's end, then the final response, fill in only what
    did not come: nothing is dropped and nothing doubled. A call's arguments count once
    whether they come whole (in the added item, or at its end) or in pieces.

    Also kept: the response object the stream ended with (`body`, what `--json` prints);
    which form of the thinking is shown (a server may send both the full text and its
    summary: the first to come is kept, the other dropped, as one thought is one text)."""

    def __init__(self) -> None:
        self.filled: dict[Key | None, set[str]] = {}  # item -> what of it came; None: unplaced
        self.streamed: set[str] = set()  # "text", "reasoning", "cite": their deltas came
        self.keys: dict[int, Key] = {}  # output index -> item key
        self.places: dict[str, int] = {}  # item id -> output index
        self.calls = False  # a function call was seen
        self.thinking: str | None = None  # the delta type the thinking comes in
        self.thought: tuple[Key | None, Any] | None = None  # the part the last thinking was in
        self.new_part = False  # a summary part began since
        self.said = False  # any event at all
        self.body: dict[str, Any] | None = None

    def chunk_events(self, obj: Any) -> list[Event]:
        events = self._events(obj)
        self.said = self.said or bool(events)
        if isinstance(obj, dict) and "choices" not in obj:  # a chunk's is read there
            events = _with_charge(obj, events)
        return events

    def _events(self, obj: Any) -> list[Event]:
        if isinstance(obj, StreamEnd):  # a proxy's [DONE]
            if not self.said:
                raise ProtocolError("the stream ended with no reply and no response.completed")
            return [obj]
        if not isinstance(obj, dict):
            raise ProtocolError(f"unexpected event in stream: {json.dumps(obj)[:80]!r}")
        kind = obj.get("type")
        if kind is None:
            if obj.get("error"):  # a proxy's Chat Completions-style error
                return [_error(obj["error"])]
            if "choices" in obj:  # a proxy streaming Chat Completions chunks here
                from aimlchat.api.adapters import chat_completions

                return chat_completions.chunk_events(obj)
            return []
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            delta = obj.get("delta")
            if not isinstance(delta, str) or not delta:
                return []
            self._came(obj, "text")
            return [TextDelta(delta)]
        if kind in (_SUMMARY_DELTA, _THINKING_DELTA):
            return self._thought(obj, kind)
        if kind == "response.reasoning_summary_part.added":
            self.new_part = True  # its deltas may not say which part they are in
            return []
        if kind == "response.function_call_arguments.delta":
            return self._arguments_piece(obj)
        if kind in ("response.output_item.added", "response.output_item.done"):
            return self._item(obj, done=kind.endswith("done"))
        if kind == "response.output_text.annotation.added":
            cites = _citations([obj.get("annotation")])
            if cites:
                self._came(obj, "cite")
            return cites
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = obj.get("response")
            self.body = response = response if isinstance(response, dict) else {}
            output = response.get("output")
            items = output if isinstance(output, list) else []
            late = [
                e
                for at, item in enumerate(items)
                if isinstance(item, dict)
                for e in self._fill(item, _key(item, None) or self.keys.get(at, ("at", at)), at)
            ]
            end = _end_events(response, kind.removeprefix("response."), self.calls)
            return [*late, *end, StreamEnd()]
        if kind == "error":
            return [_error(obj.get("error") or obj)]
        return []  # created, in_progress, *.done, web search progress, …: nothing to show

    def _key(self, obj: dict[str, Any]) -> Key | None:
        """The item a delta belongs to, by its item id, else its output index."""
        item_id = obj.get("item_id")
        if isinstance(item_id, str) and item_id:
            return ("id", item_id)
        at = count(obj.get("output_index"))
        return None if at is None else self.keys.get(at, ("at", at))

    def _came(self, obj: dict[str, Any], what: str) -> Key | None:
        key = self._key(obj)
        self.filled.setdefault(key, set()).add(what)
        if what in ("text", "reasoning", "cite"):
            self.streamed.add(what)
        return key

    def _has(self, key: Key | None, what: str) -> bool:
        return what in self.filled.get(key, ()) or what in self.filled.get(None, ())

    def _thought(self, obj: dict[str, Any], kind: str) -> list[Event]:
        delta = obj.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        key = self._came(obj, "reasoning")
        if self.thinking is None:
            self.thinking = kind
        elif kind != self.thinking:
            return []  # the same thought in its other form
        part = (key, obj.get("summary_index", obj.get("content_index")))
        new = self.thought is not None and (part != self.thought or self.new_part)
        self.thought, self.new_part = part, False
        return [ReasoningDelta("\n\n" + delta if new else delta)]  # a new part, a new paragraph

    def _arguments_piece(self, obj: dict[str, Any]) -> list[Event]:
        delta = obj.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        key = self._key(obj)
        if self._has(key, "whole"):
            return []  # they came whole in the added item: these pieces would double them
        self.filled.setdefault(key, set()).add("arguments")
        at = count(obj.get("output_index"))
        if at is None:
            at = self.places.get(str(obj.get("item_id")))
        return [ToolCallDelta(call=at, arguments=delta)]

    def _item(self, obj: dict[str, Any], *, done: bool) -> list[Event]:
        """An item begins (a function call's id and name, its arguments when they come
        whole) or ends (whatever of it did not come in deltas)."""
        item = obj.get("item")
        if not isinstance(item, dict):
            return []
        at = count(obj.get("output_index"))
        key = _key(item, at)
        if at is not None and key is not None:
            self.keys[at] = key
            if key[0] == "id":
                self.places[key[1]] = at
        if done:
            return self._fill(item, key, at)
        if item.get("type") != "function_call":
            return []
        self.calls = True
        came = self.filled.setdefault(key, set())
        arguments = _arguments(item.get("arguments"))
        came |= {"call", "arguments", "whole"} if arguments else {"call"}
        return [_call(item, at, arguments)]

    def _fill(self, item: dict[str, Any], key: Key | None, at: int | None) -> list[Event]:
        """What an item whole says that its deltas did not: its text, thinking and
        citations when no delta of that kind came in the whole stream (positions differ
        between proxies: a kind streamed at all was streamed whole); its call, or the
        call's arguments; its reasoning item to send back."""
        came = self.filled.setdefault(key, set())
        kind = item.get("type")
        events: list[Event] = []
        if kind == "message":
            texts, cites = _message(item)
            if "text" not in self.streamed and not self._has(key, "text"):
                events += texts
            if "cite" not in self.streamed and not self._has(key, "cite"):
                events += cites
            came |= {"text", "cite"}
        elif kind == "reasoning":
            if "reasoning" not in self.streamed and not self._has(key, "reasoning"):
                text = _thinking(item)
                if text:
                    events.append(ReasoningDelta("\n\n" + text if self.thought else text))
                    self.thought = (key, None)
            if not self._has(key, "kept"):
                events += _reasoning_item(item)
            came |= {"reasoning", "kept"}
        elif kind == "function_call":
            self.calls = True
            if key is not None and key[0] == "id":  # where the stream placed it, if it did
                at = self.places.get(key[1], at)
            arguments = _arguments(item.get("arguments"))
            if not self._has(key, "call"):
                events.append(_call(item, at, arguments))
            elif arguments and not self._has(key, "arguments"):
                events.append(ToolCallDelta(call=at, arguments=arguments))
            came |= {"call", "arguments"}
        return events


def stream_parser() -> StreamParser:
    return StreamParser()


def _key(item: dict[str, Any], at: int | None) -> Key | None:
    item_id = item.get("id")
    if isinstance(item_id, str) and item_id:
        return ("id", item_id)
    return None if at is None else ("at", at)


def _call(item: dict[str, Any], at: int | None, arguments: str) -> ToolCallDelta:
    return ToolCallDelta(
        call=at, id=_str(item.get("call_id")), name=_str(item.get("name")), arguments=arguments
    )


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


def _with_charge(obj: dict[str, Any], events: list[Event]) -> list[Event]:
    """The AI/ML API's charge (`meta.usage`, at the top of the last event or inside its
    `response`), before the end marker (which ends the reply) and any error."""
    if "meta" not in obj and not isinstance(obj.get("response"), dict):
        return events
    from aimlchat.api.aimlapi import meta_charge

    charge = meta_charge(obj)
    if charge is None:
        return events
    at = len(events)  # before the end, and before an error (a failed reply is charged)
    while at and isinstance(events[at - 1], (StreamEnd, StreamError)):
        at -= 1
    return [*events[:at], charge, *events[at:]]


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
    return _with_charge(obj, events + _end_events(obj, "completed", False))


def _output_item(item: dict[str, Any], at: int) -> list[Event]:
    kind = item.get("type")
    if kind == "reasoning":
        text = _thinking(item)
        thinking: list[Event] = [ReasoningDelta(text)] if text else []
        return thinking + _reasoning_item(item)
    if kind == "message":
        texts, cites = _message(item)
        return [*texts, *cites]
    if kind == "function_call":
        return [_call(item, at, _arguments(item.get("arguments")))]
    return []


def _message(item: dict[str, Any]) -> tuple[list[Event], list[Event]]:
    """A message item's text (and refusals) and its citations."""
    texts: list[Event] = []
    cites: list[Event] = []
    content = item.get("content")
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
        if isinstance(text, str) and text:
            texts.append(TextDelta(text))
        notes = part.get("annotations")
        cites += _citations(notes if isinstance(notes, list) else [])
    return texts, cites


def _thinking(item: dict[str, Any]) -> str:
    """A reasoning item's thinking: its summary, else its full text (one, not both)."""
    texts = _texts(item.get("summary"), "summary_text") or _texts(
        item.get("content"), "reasoning_text"
    )
    return "\n\n".join(texts)


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
    """`url_citation` annotations, read as Chat Completions reads them (flat here, nested
    under `url_citation` there, which some proxies keep): one normalisation for both."""
    from aimlchat.api.adapters.chat_completions import url_citations

    return url_citations([n for n in notes if isinstance(n, dict) and n.get("type")], 0)


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
