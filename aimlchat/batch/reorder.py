"""Results back in input order (`--ordered`), held only until the gap before them fills.

The buffer itself has no limit: the runner bounds it, since it reads at most a window
of items ahead of the oldest one not yet written.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Reorder(Generic[T]):
    def __init__(self, *, ordered: bool) -> None:
        self.ordered = ordered
        self._next = 0
        self._held: dict[int, T | None] = {}

    def __len__(self) -> int:
        return len(self._held)

    def add(self, seq: int, item: T | None) -> list[T | None]:
        """Put result `seq` (None: nothing to write) in; take out what is now in order."""
        if not self.ordered:
            return [item]
        self._held[seq] = item
        ready: list[T | None] = []
        while self._next in self._held:
            ready.append(self._held.pop(self._next))
            self._next += 1
        return ready

    def drain(self) -> list[T]:
        """Whatever is held, in order, skipping the gaps (the batch is ending early)."""
        items = [self._held[seq] for seq in sorted(self._held)]
        self._held.clear()
        return [item for item in items if item is not None]
