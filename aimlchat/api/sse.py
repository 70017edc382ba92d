"""Server-Sent Events, parsed without I/O: bytes in, events out.

`SSEDecoder` turns arbitrary byte chunks (split anywhere, even inside a UTF-8
character or a CRLF) into events; `interpret` turns one event of an
OpenAI-compatible chat stream into chat events. Every failure is an `SSEError`.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEError(Exception):
    """The stream is not a valid chat-completion event stream."""


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        # A model's text is what matters; one undecodable byte must not cost the reply.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed_text(self._utf8.decode(chunk))

    def finish(self) -> list[SSEEvent]:
        """End of stream: flush a last line and a last event that lacked a blank line."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        ev = self._dispatch()
        if ev is not None:
            events.append(ev)
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        if text:
            self._pending_cr = False
        events: list[SSEEvent] = []
        pos = 0
        for match in _LINE_END.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                # Might be the first half of a CRLF split across chunks.
                self._pending_cr = True
            piece = text[pos : match.start()]
            if self._partial:
                self._partial.append(piece)
                piece = "".join(self._partial)
                self._partial = []
            pos = match.end()
            ev = self._line(piece)
            if ev is not None:
                events.append(ev)
        if pos < len(text):
            self._partial.append(text[pos:])
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        # "retry" and unknown fields are ignored, as the SSE spec says.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return ev


@dataclass(frozen=True)
class Delta:
    text: str
    index: int = 0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def from_json(cls, obj: Any) -> Usage | None:
        if not isinstance(obj, dict):
            return None
        try:
            p = int(obj.get("prompt_tokens") or 0)
            c = int(obj.get("completion_tokens") or 0)
            t = int(obj.get("total_tokens") or p + c)
        except (TypeError, ValueError):
            return None
        return cls(p, c, t)


@dataclass(frozen=True)
class Finish:
    reason: str
    index: int = 0


@dataclass(frozen=True)
class StreamError:
    message: str
    code: str | None = None


@dataclass(frozen=True)
class Done:
    pass


ChatEvent = Delta | Usage | Finish | StreamError | Done


def error_text(obj: Any) -> str:
    """The human message inside an error object of any shape the API uses."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        for key in ("message", "detail", "error"):
            if obj.get(key):
                return error_text(obj[key])
        return json.dumps(obj)[:300]
    if isinstance(obj, list) and obj:
        return "; ".join(error_text(x) for x in obj[:3])
    return str(obj)


def interpret(event: SSEEvent) -> list[ChatEvent]:
    data = event.data.strip()
    if data == "[DONE]":
        return [Done()]
    try:
        obj = json.loads(data)
    except ValueError:
        raise SSEError(f"malformed event in stream: {data[:80]!r}") from None
    if not isinstance(obj, dict):
        raise SSEError(f"unexpected event in stream: {data[:80]!r}")
    if event.event == "error" or obj.get("error"):
        err = obj.get("error", obj)
        code = err.get("code") if isinstance(err, dict) else None
        return [StreamError(error_text(err), str(code) if code is not None else None)]
    out: list[ChatEvent] = []
    choices = obj.get("choices") or []
    if not isinstance(choices, list):
        raise SSEError("unexpected 'choices' in stream event")
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        index = choice.get("index") or 0
        delta = choice.get("delta") or choice.get("message") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            out.append(Delta(content, index if isinstance(index, int) else 0))
        reason = choice.get("finish_reason")
        if reason:
            out.append(Finish(str(reason), index if isinstance(index, int) else 0))
    usage = Usage.from_json(obj.get("usage"))
    if usage is not None:
        out.append(usage)
    return out
