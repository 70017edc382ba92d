"""A `<think>…</think>` block at the start of a reply's content, told apart from the answer.

R1 distills on some hosts send their thinking inside the content instead of in
`reasoning_content`. The splitter turns that content back into the same events the
other shapes give: `ReasoningDelta` for the block, `TextDelta` for the answer after it
(less the newlines that follow `</think>`). Tags may be split across chunks at any
character, so a piece that could still be the start of a tag is held until the next
piece decides it; everything else passes at once. Only the very start of the content
counts (whitespace before the tag aside): a `<think>` later in an answer is text. A
block that never closes is reasoning to the end, with no answer.
"""

from __future__ import annotations

from aimlchat.api.events import ReasoningDelta, TextDelta

OPEN, CLOSE = "<think>", "</think>"

Piece = TextDelta | ReasoningDelta

_START, _LEAD, _THINK, _AFTER, _ANSWER = range(5)


def _held_back(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """The content of one choice, piece by piece, as thinking and answer events."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self._state = _START
        self._held = ""

    @property
    def passing(self) -> bool:
        """Past any thinking, nothing held: the rest of the content passes unchanged."""
        return self._state == _ANSWER

    def feed(self, text: str) -> list[Piece]:
        text, self._held = self._held + text, ""
        out: list[Piece] = []
        if self._state == _START:
            head = text.lstrip()
            if not head or (len(head) < len(OPEN) and OPEN.startswith(head)):
                self._held = text  # whitespace, or "<th": cannot tell yet
                return out
            if not head.startswith(OPEN):
                self._state = _ANSWER
                return [TextDelta(text, self.index)]  # leading whitespace and all
            self._state, text = _LEAD, head[len(OPEN) :]
        if self._state == _LEAD:  # "<think>\n" is how the block usually opens
            text = text.lstrip("\r\n")
            if not text:
                return out
            self._state = _THINK
        if self._state == _THINK:
            end = text.find(CLOSE)
            if end == -1:
                keep = _held_back(text, CLOSE) if "<" in text[-len(CLOSE) :] else 0
                if keep:
                    text, self._held = text[:-keep], text[-keep:]
                return [ReasoningDelta(text, self.index)] if text else out
            if end:
                out.append(ReasoningDelta(text[:end], self.index))
            self._state, text = _AFTER, text[end + len(CLOSE) :]
        if self._state == _AFTER:
            text = text.lstrip("\r\n")
            if not text:
                return out
            self._state = _ANSWER
        if text:
            out.append(TextDelta(text, self.index))
        return out

    def flush(self) -> list[Piece]:
        """The content ended: what was held back, as what it turned out to be."""
        held, self._held = self._held, ""
        state, self._state = self._state, _ANSWER
        if not held:
            return []
        if state == _START:
            return [TextDelta(held, self.index)]  # "  <th" and no more: it was text
        return [ReasoningDelta(held, self.index)]  # "</thi" inside an unclosed block
