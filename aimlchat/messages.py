"""The neutral conversation: messages made of typed parts, in no API's wire shape.

Everything above `api/` speaks these: trimming, token estimates, history, export,
search, the REPL. Each API adapter (`api/adapters/`) turns them into its own request
shape and turns its events back into them, so a conversation moves between Chat
Completions and Responses without loss. The names follow the "message parts" of the
Vercel AI SDK and opencode: text, image, reasoning, tool call, tool output, citation.

It sits at the bottom (beside `errors`), because the adapters in `api/` build requests
from it and `api/` is below `chat/`. Cheap to import: records and the standard library.

`opaque` fields belong to one adapter (`{"api": "responses", ...}`): stored, never
shown, sent back only to the API shape that produced them (a Responses reasoning item's
`encrypted_content`, say).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aimlchat.money import usd
from aimlchat.record import record
from aimlchat.utf8 import without_lone_surrogates

USER, ASSISTANT, TOOL = "user", "assistant", "tool"


class BadArguments(ValueError):
    """The model's arguments are not a JSON object; the model is told, nothing crashes."""


@record(frozen=True)
class Text:
    text: str


@record(frozen=True)
class Image:
    url: str  # http(s) or a data: URL
    detail: str | None = None  # low | high | auto


@record(frozen=True)
class Reasoning:
    """The model's thinking: shown and stored, never sent back as text."""

    text: str
    opaque: Mapping[str, Any] | None = None


@record(frozen=True)
class ToolCall:
    """A call the model asked for; `arguments` as the model sent them (JSON text)."""

    id: str
    name: str
    arguments_text: str
    opaque: Mapping[str, Any] | None = None

    def arguments(self) -> dict[str, Any]:
        text = self.arguments_text.strip()
        if not text:
            return {}  # a call without arguments is often sent as ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadArguments(
                f"the arguments are not valid JSON ({exc.msg} at {exc.pos})"
            ) from None
        if not isinstance(value, dict):
            raise BadArguments(f"the arguments must be a JSON object, not {type(value).__name__}")
        return dict(without_lone_surrogates(value))  # a tool's stdin or a server get UTF-8

    def valid_arguments_text(self) -> str:
        """The arguments as history may send them back: some servers parse every past
        call's arguments and refuse the whole request when one is not JSON, which would
        break `--continue` for good. The error result keeps what the model really sent."""
        try:
            self.arguments()
        except BadArguments:
            return "{}"
        return self.arguments_text if self.arguments_text.strip() else "{}"


@record(frozen=True)
class ToolOutput:
    """What a tool call returned, as the model gets it (a `tool` message's one part)."""

    call_id: str
    text: str


@record(frozen=True)
class Citation:
    """A source the reply cites (a web search's `url_citation`)."""

    url: str
    title: str = ""
    start: int | None = None  # the cited span of the reply's text, when the API says
    end: int | None = None


Part = Text | Image | Reasoning | ToolCall | ToolOutput | Citation

# Where a cost came from: the charge the API reported for the reply, or the catalogue's
# price times the tokens (only when the API said nothing).
API, ESTIMATE = "api", "estimate"


@record(frozen=True)
class Cost:
    """What one reply (or a sum of them) cost, in USD, and whether that is the API's own
    charge or an estimate. Kept here, beside the parts, because it travels with the
    messages through every layer (session, history, export, batch), each of which sits
    above this module; no layer needs another's to say what a reply cost."""

    usd: float
    source: str = API  # API | ESTIMATE

    @property
    def estimated(self) -> bool:
        return self.source != API

    def text(self) -> str:
        """`$0.00124` for a charge, `~$0.0003` for an estimate (aimlchat.money)."""
        return usd(self.usd, estimate=self.estimated)


@record(frozen=True)
class Message:
    role: str  # user | assistant | tool
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """What it says: its text parts, joined."""
        return "".join(p.text for p in self.parts if type(p) is Text)

    @property
    def reasoning(self) -> str:
        return "".join(p.text for p in self.parts if type(p) is Reasoning)

    @property
    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(p for p in self.parts if type(p) is ToolCall)

    @property
    def images(self) -> tuple[Image, ...]:
        return tuple(p for p in self.parts if type(p) is Image)

    @property
    def citations(self) -> tuple[Citation, ...]:
        return tuple(p for p in self.parts if type(p) is Citation)

    @property
    def output(self) -> ToolOutput | None:
        """A tool message's result."""
        return next((p for p in self.parts if type(p) is ToolOutput), None)

    def readable(self) -> str:
        """Text with image markers: what `/history`, titles and search show."""
        out = []
        for p in self.parts:
            if type(p) is Text:
                out.append(p.text)
            elif type(p) is Image:
                out.append(
                    "[image: data URL]" if p.url.startswith("data:") else f"[image: {p.url}]"
                )
            elif type(p) is ToolOutput:
                out.append(p.text)
        return "\n".join(out)


def user(text: str, images: Iterable[Image] = ()) -> Message:
    return Message(USER, (Text(text), *images))


def assistant(
    text: str = "",
    *,
    calls: Iterable[ToolCall] = (),
    reasoning: str = "",
    citations: Iterable[Citation] = (),
    opaque_reasoning: Mapping[str, Any] | None = None,
) -> Message:
    """A reply: thinking first (as it came), then text, its sources, the calls it asks for.
    Empty text is left out beside calls (the APIs refuse a null content there)."""
    parts: list[Part] = []
    if reasoning or opaque_reasoning:
        parts.append(Reasoning(reasoning, opaque_reasoning))
    calls = tuple(calls)
    if text or not calls:
        parts.append(Text(text))
    parts.extend(citations)
    parts.extend(calls)
    return Message(ASSISTANT, tuple(parts))


def tool_output(call_id: str, text: str) -> Message:
    return Message(TOOL, (ToolOutput(call_id, text),))


def with_text(message: Message, text: str) -> Message:
    """The message with its text parts replaced by `text` (a tool output cut to fit)."""
    parts: list[Part] = []
    placed = False
    for p in message.parts:
        if type(p) is Text:
            if not placed:
                parts.append(Text(text))
                placed = True
        elif type(p) is ToolOutput:
            parts.append(ToolOutput(p.call_id, text))
            placed = True
        else:
            parts.append(p)
    if not placed:
        parts.insert(0, Text(text))
    return Message(message.role, tuple(parts))


# -- stored form: our own JSON, not an API's ---------------------------------------------


def part_json(part: Part) -> dict[str, Any]:
    if type(part) is Text:
        return {"type": "text", "text": part.text}
    if type(part) is Image:
        return _compact({"type": "image", "url": part.url, "detail": part.detail})
    if type(part) is Reasoning:
        return _compact({"type": "reasoning", "text": part.text, "opaque": part.opaque})
    if type(part) is ToolCall:
        return _compact(
            {
                "type": "tool_call",
                "id": part.id,
                "name": part.name,
                "arguments": part.arguments_text,
                "opaque": part.opaque,
            }
        )
    if type(part) is ToolOutput:
        return {"type": "tool_output", "call_id": part.call_id, "text": part.text}
    if type(part) is Citation:
        return _compact(
            {
                "type": "citation",
                "url": part.url,
                "title": part.title or None,
                "start": part.start,
                "end": part.end,
            }
        )
    raise TypeError(f"not a part: {part!r}")


def parts_json(message: Message) -> list[dict[str, Any]]:
    return [part_json(p) for p in message.parts]


def part_from_json(obj: Any) -> Part | None:
    """A stored part; None for a type this version does not know (kept out, not fatal)."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind == "text":
        return Text(str(obj.get("text", "")))
    if kind == "image":
        return Image(str(obj.get("url", "")), _opt_str(obj.get("detail")))
    if kind == "reasoning":
        return Reasoning(str(obj.get("text", "")), _opt_map(obj.get("opaque")))
    if kind == "tool_call":
        return ToolCall(
            str(obj.get("id", "")),
            str(obj.get("name", "")),
            str(obj.get("arguments", "")),
            _opt_map(obj.get("opaque")),
        )
    if kind == "tool_output":
        return ToolOutput(str(obj.get("call_id", "")), str(obj.get("text", "")))
    if kind == "citation":
        return Citation(
            str(obj.get("url", "")),
            str(obj.get("title") or ""),
            _opt_int(obj.get("start")),
            _opt_int(obj.get("end")),
        )
    return None


def message_from_json(role: str, parts: Any) -> Message:
    items = parts if isinstance(parts, list) else []
    return Message(role, tuple(p for p in map(part_from_json, items) if p is not None))


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_map(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) and value else None
