"""Tool calls put back together from the pieces a stream sends.

Servers differ: OpenAI sends `id` and `name` once, in a call's first chunk, then the
arguments a few characters at a time; some repeat `id`/`name` in every chunk; some send
the name in pieces; some leave out `index` (Gemini) or `id`. The pieces come from
api.protocol's ToolCallDelta, through api.response, for streamed and whole replies alike.
"""

from __future__ import annotations

import json
from dataclasses import field
from typing import Any

from aimlchat.record import record


class BadArguments(ValueError):
    """The model's arguments are not a JSON object; the model is told, nothing crashes."""


@record(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments_text: str

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
        return value

    def valid_arguments_text(self) -> str:
        """The arguments as history may keep them: some servers parse every past call's
        arguments and refuse the whole request when one is not JSON, which would break
        `--continue` for good. The error result keeps what the model really sent."""
        try:
            self.arguments()
        except BadArguments:
            return "{}"
        return self.arguments_text if self.arguments_text.strip() else "{}"


@record()
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)  # joined once: a piece may be a character


def _merge_name(known: str, piece: str) -> str:
    if not known:
        return piece
    if piece == known:
        return known  # repeated in every chunk
    if piece.startswith(known):
        return piece  # sent whole-so-far each time
    return known + piece  # sent in pieces


class ToolCallAssembler:
    """Feed it each piece of a reply's tool calls; ask for `calls()` when the turn ends."""

    def __init__(self, id_prefix: str = "call_") -> None:
        self._id_prefix = id_prefix
        self._parts: dict[int, _Partial] = {}
        self._last: int | None = None

    def __bool__(self) -> bool:
        return bool(self._parts)

    def feed_piece(
        self, call: int | None, id: str | None, name: str | None, arguments: str
    ) -> None:
        """One piece (the protocol module's ToolCallDelta). `call` is the piece's `index`;
        None when the server sent none (Gemini), and then its id says which call it is."""
        slot = self._slot(id) if call is None else call
        self._last = slot
        part = self._parts.setdefault(slot, _Partial())
        if id and not part.id:
            part.id = id
        if name:
            part.name = _merge_name(part.name, name)
        part.arguments.append(arguments)

    def _slot(self, call_id: str | None) -> int:
        """Where a piece without an index goes: an id names a call (a new id, a new call;
        some servers repeat it in every piece); a piece without one continues the last."""
        last = self._last
        if not call_id:
            return 0 if last is None else last
        for slot, part in self._parts.items():
            if part.id == call_id:
                return slot
        if last is not None and not self._parts[last].id:
            return last  # the last call's id, sent after its first piece
        return max(self._parts, default=-1) + 1

    def calls(self) -> list[ToolCall]:
        out: list[ToolCall] = []
        used: set[str] = set()
        for position, slot in enumerate(sorted(self._parts)):
            part = self._parts[slot]
            call_id = part.id
            if not call_id or call_id in used:
                call_id = f"{self._id_prefix}{position}"
            used.add(call_id)
            out.append(ToolCall(call_id, part.name, "".join(part.arguments)))
        return out
