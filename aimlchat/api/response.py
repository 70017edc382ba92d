"""One reply from the model, streamed or whole, as one object (llm's `Response`).

Iterating yields the chat events as they arrive: a stream event by event, a
non-streamed body all at once. Afterwards (or meanwhile) the response tells the text
of each choice, its finish reason, the usage and the JSON. The caller never branches
on the transport.

The source is the client's: SSE events from a stream, or one decoded body. Nothing is
sent until the first event is asked for, and a reply abandoned midway (Ctrl-C, an error
while showing it) is closed, not read on: what arrived is what the accessors report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from aimlchat.api.events import (
    Charge,
    ChatEvent,
    CitationDelta,
    Event,
    Finish,
    ReasoningDelta,
    ReasoningItem,
    ReplyInfo,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from aimlchat.api.surrogates import SurrogateMender
from aimlchat.api.think import ThinkSplitter
from aimlchat.errors import AimlchatError, ApiError, AuthError, NetworkError, RateLimitError, redact
from aimlchat.record import record
from aimlchat.sse import SSEEvent

if TYPE_CHECKING:
    from types import ModuleType as Adapter  # an api.adapters module
from aimlchat.messages import Citation, ToolCall
from aimlchat.tools.assemble import ToolCallAssembler

_META = ("id", "created", "model", "system_fingerprint")


@record()
class _Choice:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    opaque: list[Mapping[str, Any]] = field(default_factory=list)  # ReasoningItem's, in order
    finish_reason: str | None = None
    citations: list[Citation] = field(default_factory=list)
    # The one assembler (tools.assemble), so the session runs the calls this reports.
    calls: ToolCallAssembler = field(default_factory=ToolCallAssembler)


class Response:
    def __init__(self, source: Iterable[SSEEvent | Any], adapter: Adapter | None = None) -> None:
        """`adapter`: the API shape's parser (api.adapters), Chat Completions by default."""
        if adapter is None:
            from aimlchat.api.adapters import chat_completions

            adapter = chat_completions
        self.adapter: Adapter = adapter
        self._parser: Any = adapter
        self.use(adapter)
        self._source: Iterable[SSEEvent | Any] | None = source
        self._started = False
        self._seen: list[ChatEvent] = []
        self._choices: dict[int, _Choice] = {}
        self._usage: Usage | None = None
        self._body: dict[str, Any] | None = None  # the whole non-streamed body, as sent
        self._meta: dict[str, Any] = {}
        self._charge: Charge | None = None  # the last `meta.usage` the reply carried
        # The HTTP answer's headers (api.events.ReplyInfo): its ids, a whole reply's charge.
        self.headers: Mapping[str, str] = {}
        # Content of each choice goes through a `<think>` splitter until it is past any
        # thinking; then its index is in `_passing` and its text goes straight on.
        self._splitters: dict[int, ThinkSplitter] = {}
        self._passing: set[int] = set()
        self._mender = SurrogateMender()  # before anything else: a pair split by the stream
        self.done = False  # ended as the protocol says: [DONE], every finish, or a whole body

    def use(self, adapter: Adapter) -> None:
        """Parse with `adapter` (an API shape's, api.adapters); the client switches before
        the first event when it falls back to another API (api.route)."""
        self.adapter = adapter
        # An adapter whose events depend on earlier ones (Responses: a call's arguments
        # whole at its end, after or instead of its pieces) parses each stream afresh.
        parser = getattr(adapter, "stream_parser", None)
        self._parser = parser() if parser is not None else adapter

    # -- events ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ChatEvent]:
        if self._started:  # a second pass replays what arrived
            yield from list(self._seen)
            return
        self._started = True
        try:
            for item in self._source or ():
                for event in self._parse(item):
                    if isinstance(event, StreamEnd):
                        self.done = True
                        yield from map(self._take, self._flush())
                        return  # the end marker ends the reply, whatever follows
                    if type(event) is TextDelta and event.index in self._passing:
                        yield self._take(event)  # one per token: first
                    else:
                        yield from map(self._take, self._split(event))
            yield from map(self._take, self._flush())
            self._check_ended()
        finally:
            self.close()

    def _parse(self, item: SSEEvent | Any) -> list[Event]:
        if isinstance(item, ReplyInfo):  # the answer began: a new one's headers replace
            self.headers, self._charge = item.headers, None
            return []
        if isinstance(item, SSEEvent):
            obj = self.adapter.payload(item)
            if not self._meta:
                self._keep_meta(obj)
            return self._mender.mend(self._parser.chunk_events(obj))
        events = self.adapter.body_events(item)
        self._body = item
        self.done = True
        return self._mender.mend(events)

    def _split(self, event: ChatEvent | StreamError) -> list[ChatEvent | StreamError]:
        """`<think>…</think>` at the start of a choice's content becomes reasoning."""
        if type(event) is TextDelta and event.index not in self._passing:
            splitter = self._splitters.get(event.index)
            if splitter is None:
                splitter = self._splitters[event.index] = ThinkSplitter(event.index)
            pieces: list[ChatEvent | StreamError] = list(splitter.feed(event.text))
            if splitter.passing:
                self._passing.add(event.index)
                del self._splitters[event.index]
            return pieces
        if isinstance(event, Finish) and event.index in self._splitters:
            return [*self._splitters.pop(event.index).flush(), event]
        if isinstance(event, CitationDelta) and self._repeated(event):
            return []  # a stream that sends the whole list again with each chunk
        return [event]

    def _repeated(self, event: CitationDelta) -> bool:
        """The choice has this citation already: the same URL and span, or the same URL
        again with no span."""
        choice = self._choices.get(event.index)
        return choice is not None and any(
            c.url == event.url
            and ((c.start, c.end) == (event.start, event.end) or event.start is None)
            for c in choice.citations
        )

    def _flush(self) -> list[ChatEvent | StreamError]:
        """The content ended: half a surrogate pair and text held back in case it was a
        tag, as what they were."""
        pieces = [piece for event in self._mender.flush() for piece in self._split(event)]
        splitters, self._splitters = self._splitters, {}
        return [*pieces, *(piece for s in splitters.values() for piece in s.flush())]

    def _take(self, event: ChatEvent | StreamError) -> ChatEvent:
        if isinstance(event, StreamError):
            raise stream_error(event, streamed=self._body is None)
        self._seen.append(event)
        if isinstance(event, Usage):
            self._usage = event  # the last one: vLLM repeats a running total on every chunk
            return event
        if isinstance(event, Charge):
            self._charge = event
            return event
        choice = self._choices.get(event.index)
        if choice is None:
            choice = self._choices[event.index] = _Choice()
        if type(event) is TextDelta:  # one per token: first
            choice.text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            choice.reasoning.append(event.text)
        elif isinstance(event, Finish):
            choice.finish_reason = event.reason
        elif isinstance(event, ToolCallDelta):
            choice.calls.feed_piece(event.call, event.id, event.name, event.arguments)
        elif isinstance(event, CitationDelta):
            choice.citations.append(Citation(event.url, event.title, event.start, event.end))
        elif isinstance(event, ReasoningItem):
            choice.opaque.append(event.opaque)
        return event

    def _keep_meta(self, obj: Any) -> None:
        if isinstance(obj, dict):
            self._meta = {k: obj[k] for k in _META if k in obj}

    def _check_ended(self) -> None:
        finished = self._choices and all(c.finish_reason for c in self._choices.values())
        if not (self.done or finished):
            raise NetworkError("the server closed the stream early; the reply is incomplete")
        self.done = True

    def close(self) -> None:
        """Stop reading and release the connection (idempotent). What arrived stays."""
        self._started = True
        for piece in self._flush():  # abandoned: held-back text still counts
            self._take(piece)
        source, self._source = self._source, None
        close = getattr(source, "close", None)
        if close is not None:
            close()

    # -- what arrived ------------------------------------------------------------------

    def _force(self) -> None:
        # Only a response nobody started is read here; one being (or abandoned while
        # being) iterated reports what has arrived so far.
        if not self._started:
            for _ in self:
                pass

    def text(self, index: int = 0) -> str:
        self._force()
        choice = self._choices.get(index)
        return "".join(choice.text) if choice else ""

    def indexes(self) -> list[int]:
        """The choices that said anything, in index order."""
        self._force()
        return sorted(self._choices)

    def texts(self) -> list[str]:
        """The text of each choice, in index order."""
        self._force()
        return ["".join(self._choices[i].text) for i in sorted(self._choices)]

    def reasoning(self, index: int = 0) -> str:
        self._force()
        choice = self._choices.get(index)
        return "".join(choice.reasoning) if choice else ""

    def calls(self, index: int = 0) -> list[ToolCall]:
        """Tool calls assembled from their pieces (a missing id becomes `call_N`)."""
        self._force()
        choice = self._choices.get(index)
        return choice.calls.calls() if choice else []

    def tool_calls(self, index: int = 0) -> list[dict[str, Any]]:
        """The tool calls in the OpenAI message shape, arguments as the model sent them."""
        return [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments_text},
            }
            for c in self.calls(index)
        ]

    def citations(self, index: int = 0) -> list[Citation]:
        """The sources the choice cites (a web search's), each once, in arrival order."""
        self._force()
        choice = self._choices.get(index)
        return list(choice.citations) if choice else []

    def opaque_reasoning(self, index: int = 0) -> Mapping[str, Any] | None:
        """The thinking state the adapter wants back with the next request (the Reasoning
        part's `opaque`): one item's as it came; several as `{"api", "items": [...]}`."""
        self._force()
        choice = self._choices.get(index)
        kept = choice.opaque if choice else []
        if len(kept) <= 1:
            return kept[0] if kept else None
        return {"api": kept[0].get("api"), "items": [o.get("item") for o in kept]}

    def finish_reason(self, index: int = 0) -> str | None:
        self._force()
        choice = self._choices.get(index)
        return choice.finish_reason if choice else None

    @property
    def usage(self) -> Usage | None:
        self._force()
        return self._usage

    @property
    def charge(self) -> Charge | None:
        """What the server says the reply cost: the `meta.usage` of a stream's last chunk
        or of the body, else a whole reply's cost headers; None when it said neither (or
        the reply was cut short before it could)."""
        self._force()
        if self._charge is not None and self._charge.usd is not None:
            return self._charge
        from aimlchat.api.aimlapi import header_charge

        return header_charge(self.headers) or self._charge

    @property
    def inference_id(self) -> str | None:
        """The server's id for the request (`x-inference-id`): its charge is filed under it."""
        from aimlchat.api.aimlapi import inference_id

        return inference_id(self.headers)

    @property
    def client_request_id(self) -> str | None:
        """The `X-Client-Request-Id` the server echoed (None: it did not, or it dropped it)."""
        from aimlchat.api.aimlapi import echoed_request_id

        return echoed_request_id(self.headers)

    def json(self) -> dict[str, Any]:
        """The body as the server sent it; for a stream, a `chat.completion` assembled
        from its chunks (or the object a Responses stream ends with). The charge is under
        `meta.usage`, the API's own shape, when the API sent one and the object does not
        say it already: a stream's last chunk and a whole reply's headers put it
        elsewhere. None is ever made up."""
        self._force()
        if self._body is not None:
            return self._charged(self._body)
        whole = getattr(self._parser, "body", None)  # the object a Responses stream ends with
        if isinstance(whole, dict):
            return self._charged(whole)
        return self._charged(self._assembled())

    def _charged(self, obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` with the reply's charge under `meta.usage` (a copy; `obj` stays as sent)."""
        charge = self.charge
        if charge is None or _says_usage(obj):
            return obj
        usage: dict[str, Any] = {}
        if charge.usd is not None:
            usage["usd_spent"] = charge.usd
        if charge.credits is not None:
            usage["credits_used"] = charge.credits
        meta = obj.get("meta")
        return {**obj, "meta": {**(meta if isinstance(meta, dict) else {}), "usage": usage}}

    def _assembled(self) -> dict[str, Any]:
        """A stream's chunks as the `chat.completion` a whole reply would have been."""
        obj: dict[str, Any] = {**self._meta, "object": "chat.completion", "choices": []}
        for i in sorted(self._choices):
            calls = self.tool_calls(i)
            text = self.text(i)
            # OpenAI's shape: content is null beside tool calls when there is no text.
            content = text if text or not calls else None
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if self.reasoning(i):
                message["reasoning_content"] = self.reasoning(i)
            if calls:
                message["tool_calls"] = calls
            if citations := self.citations(i):
                message["annotations"] = [_annotation(c) for c in citations]
            reason = self._choices[i].finish_reason
            obj["choices"].append({"index": i, "message": message, "finish_reason": reason})
        if self._usage is not None:
            u = self._usage
            obj["usage"] = u.details or {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
            }
        return obj


def _says_usage(obj: dict[str, Any]) -> bool:
    """The object has a `meta.usage` of its own (top level, or in a Responses `response`),
    whatever it holds: the body as sent is not rewritten."""
    for holder in (obj, obj.get("response")):
        meta = holder.get("meta") if isinstance(holder, dict) else None
        if isinstance(meta, dict) and "usage" in meta:
            return True
    return False


def _annotation(citation: Citation) -> dict[str, Any]:
    """A citation as the API's `url_citation` annotation (what a whole body carries)."""
    fields: dict[str, Any] = {"url": citation.url, "title": citation.title}
    if citation.start is not None:
        fields["start_index"] = citation.start
    if citation.end is not None:
        fields["end_index"] = citation.end
    return {"type": "url_citation", "url_citation": fields}


def stream_error(event: StreamError, *, streamed: bool) -> AimlchatError:
    """An error the server sent in place of (or in the middle of) a reply, either API's,
    as the error an HTTP status would have given: its code says which."""
    said = event.message
    if event.code and event.code not in said:
        said += f" ({event.code})"
    message = redact(
        f"the server stopped the reply: {said}" if streamed else f"server error: {said}"
    )
    if event.code == "rate_limit_exceeded":
        return RateLimitError(
            message, code=event.code, hint="rate limited; wait a little or raise --retries"
        )
    if event.code == "insufficient_quota":
        from aimlchat.api.aimlapi import BILLING_DASHBOARD

        return AuthError(
            message,
            hint=f"the account has no credits left; top up (AI/ML API: {BILLING_DASHBOARD})",
        )
    return ApiError(message, code=event.code)
