"""Surrogates a stream splits, put back together before anything else sees the text.

A server that escapes non-BMP characters as JSON `\\ud83d\\ude00` may cut the pair between
two events; each half decodes to a lone surrogate, which cannot be encoded as UTF-8:
stdout, the terminal and SQLite would all refuse the reply. So per choice and per field
(content, reasoning, each tool call's arguments) a trailing high surrogate is held until
the field's next piece arrives; joined, a pair becomes its character and anything still
unpaired becomes U+FFFD, as does a half left at the end of the choice or the stream.
"""

from __future__ import annotations

import re

from aimlchat.api.events import Event, Finish, ReasoningDelta, TextDelta, ToolCallDelta
from aimlchat.record import replace

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")

Key = tuple[str, int, int | None]  # (field, choice, tool call)
Piece = TextDelta | ReasoningDelta | ToolCallDelta


def mend(text: str) -> str:
    """Pairs joined into their character, any lone surrogate as U+FFFD."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _is_high(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


class SurrogateMender:
    """The events of one reply, chunk by chunk, with every surrogate pair made whole."""

    def __init__(self) -> None:
        # A held high surrogate, as the piece it came in (so it can be given back as is).
        self._held: dict[Key, Piece] = {}
        self._call_ids: dict[int, str] = {}  # per choice: the id of the last index-less call

    def mend(self, events: list[Event]) -> list[Event]:
        """The events with their text mended; a piece that was only a held half is dropped."""
        out: list[Event] = []
        for event in events:
            if type(event) is TextDelta or type(event) is ReasoningDelta:
                key: Key = ("c" if type(event) is TextDelta else "r", event.index, None)
                if not self._held and (event.text.isascii() or not _SURROGATE.search(event.text)):
                    out.append(event)  # the common case: one check per token
                elif text := self._join(key, event, event.text):
                    out.append(replace(event, text=text))
            elif isinstance(event, ToolCallDelta):
                out += self._call(event)
            else:
                if isinstance(event, Finish):  # the choice is over: its halves too
                    out += self._release([k for k in self._held if k[1] == event.index])
                out.append(event)
        return out

    def flush(self) -> list[Piece]:
        """The stream ended: every half still held, as U+FFFD."""
        return self._release(list(self._held))

    def _call(self, event: ToolCallDelta) -> list[Event]:
        out: list[Event] = []
        if event.call is None and event.id:
            # An index-less piece with a new id starts the next call: the last one is over.
            if self._call_ids.get(event.index, event.id) != event.id:
                out += self._release([("t", event.index, None)])
            self._call_ids[event.index] = event.id
        name = mend(event.name) if event.name else event.name
        arguments = self._join(("t", event.index, event.call), event, event.arguments)
        if name != event.name or arguments != event.arguments:
            event = replace(event, name=name, arguments=arguments)
        out.append(event)
        return out

    def _join(self, key: Key, event: Piece, text: str) -> str:
        held = self._held.pop(key, None)
        if held is not None:
            text = _text(held) + text
        if text and _is_high(text[-1]):
            self._held[key] = _with_text(event, text[-1])
            text = text[:-1]
        return mend(text)

    def _release(self, keys: list[Key]) -> list[Piece]:
        held = [self._held.pop(key, None) for key in keys]
        return [_with_text(piece, REPLACEMENT) for piece in held if piece is not None]


def _text(piece: Piece) -> str:
    return piece.arguments if isinstance(piece, ToolCallDelta) else piece.text


def _with_text(piece: Piece, text: str) -> Piece:
    if isinstance(piece, ToolCallDelta):
        # Only the arguments: an id or name again would start or rename a call.
        return ToolCallDelta(call=piece.call, arguments=text, index=piece.index)
    return replace(piece, text=text)
