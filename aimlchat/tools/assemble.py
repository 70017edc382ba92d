"""Tool calls put back together from the pieces a stream sends.

Servers differ: OpenAI sends `id` and `name` once, in a call's first chunk, then the
arguments a few characters at a time; some repeat `id`/`name` in every chunk; some send
the name in pieces; some leave out `index` or `id`. The input is the raw
`delta["tool_calls"]` items, so this does not depend on how the stream is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class BadArguments(ValueError):
    """The model's arguments are not a JSON object; the model is told, nothing crashes."""


@dataclass(frozen=True)
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


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # A few servers send arguments as an object instead of a JSON string.
    return json.dumps(value, ensure_ascii=False)


def _merge_name(known: str, piece: str) -> str:
    if not known:
        return piece
    if piece == known:
        return known  # repeated in every chunk
    if piece.startswith(known):
        return piece  # sent whole-so-far each time
    return known + piece  # sent in pieces


class ToolCallAssembler:
    """Feed it each chunk's `delta["tool_calls"]`; ask for `calls()` when the turn ends."""

    def __init__(self, id_prefix: str = "call_") -> None:
        self._id_prefix = id_prefix
        self._parts: dict[int, _Partial] = {}
        self._last: int | None = None

    def __bool__(self) -> bool:
        return bool(self._parts)

    def feed(self, items: Iterable[Any] | None) -> None:
        for item in items or ():
            if isinstance(item, dict):
                self._feed_one(item)

    def _slot(self, item: dict[str, Any]) -> int:
        index = item.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        # No index: an id names a call; a chunk without one continues the last call.
        call_id = item.get("id")
        if isinstance(call_id, str) and call_id:
            for slot, part in self._parts.items():
                if part.id == call_id:
                    return slot
            return max(self._parts, default=-1) + 1
        if self._last is not None:
            return self._last
        return 0

    def _feed_one(self, item: dict[str, Any]) -> None:
        function = item.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        self.feed_piece(
            self._slot(item),
            item.get("id") if isinstance(item.get("id"), str) else None,
            name if isinstance(name, str) else None,
            _text(function.get("arguments")),
        )

    def feed_piece(self, call: int, id: str | None, name: str | None, arguments: str) -> None:
        """One piece already taken apart (e.g. the protocol module's ToolCallDelta:
        `feed_piece(ev.call, ev.id, ev.name, ev.arguments)`)."""
        self._last = call
        part = self._parts.setdefault(call, _Partial())
        if id and not part.id:
            part.id = id
        if name:
            part.name = _merge_name(part.name, name)
        part.arguments += arguments

    def calls(self) -> list[ToolCall]:
        out: list[ToolCall] = []
        used: set[str] = set()
        for position, slot in enumerate(sorted(self._parts)):
            part = self._parts[slot]
            call_id = part.id
            if not call_id or call_id in used:
                call_id = f"{self._id_prefix}{position}"
            used.add(call_id)
            out.append(ToolCall(call_id, part.name, part.arguments))
        return out


def from_message(message: dict[str, Any], id_prefix: str = "call_") -> list[ToolCall]:
    """The calls of a non-streamed `choices[0].message` (its `tool_calls`)."""
    items = message.get("tool_calls")
    if not isinstance(items, list):
        return []
    assembler = ToolCallAssembler(id_prefix)
    for position, item in enumerate(items):
        if isinstance(item, dict):
            # A whole call per item: its position is its index, whatever it says.
            assembler.feed([{**item, "index": position}])
    return assembler.calls()
