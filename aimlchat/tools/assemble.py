"""Tool calls put back together from the pieces a stream sends.

Servers differ: OpenAI sends `id` and `name` once, in a call's first chunk, then the
arguments a few characters at a time; some repeat `id`/`name` in every chunk; some send
the name in pieces; some leave out `index` (Gemini) or `id`. The pieces come from
api.events' ToolCallDelta (from either API's adapter), through api.response, streamed or whole.
"""

from __future__ import annotations

from dataclasses import field

from aimlchat.messages import ToolCall
from aimlchat.record import record


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
        """One piece (api.events' ToolCallDelta). `call` is the piece's `index`;
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
