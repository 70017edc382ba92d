"""Server-Sent Events, parsed without I/O: bytes in, events out.

`SSEDecoder` turns arbitrary byte chunks (split anywhere, even inside a UTF-8
character or a CRLF) into events. It never fails: what the events mean (Chat
Completions chunks, Responses events) is each API adapter's business (api.adapters).
"""

from __future__ import annotations

import codecs
import re

from aimlchat.record import record

_LINE_END = re.compile(r"\r\n|\r|\n")


@record(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self, *, unfinished: bool = True) -> None:
        # `unfinished`: a last event the stream's end cut off (no blank line after it) is
        # still dispatched: a model server that closes early has said what it said. The
        # SSE standard drops it, as an MCP stream that is resumed must (it comes again).
        self._unfinished = unfinished
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
        """End of stream: flush a last line and a last event that lacked a blank line
        (none of it when not `unfinished`)."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        if not self._unfinished:
            self._partial, self._data, self._event = [], [], ""
            return events
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
