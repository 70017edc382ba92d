"""--max-cost: what a batch has spent, counted as each result comes back.

A reply counts its catalogue cost. A request that may have been billed (sent, no answer)
counts the most it can have cost (`Requester.worst_case`): the estimated prompt plus the
longest reply it allowed. One with no such bound ends the batch, since the budget could
no longer be kept. Counted in the worker as each item ends, before it takes the next one
and before a result waits for its turn in --ordered's reorder buffer: so the batch passes
the budget by the other requests already in flight at most (-j - 1), in either order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from aimlchat.batch.records import Record
from aimlchat.batch.request import Unanswered
from aimlchat.batch.scheduler import Done
from aimlchat.errors import AimlchatError


class Unbounded(AimlchatError):
    """A request that may have been billed has no worst case: --max-cost cannot hold."""

    def __init__(self, record: Record, model: str) -> None:
        super().__init__(
            f"--max-cost: no upper bound for what item {record.id} may have cost (no answer "
            f"after the request was sent, and neither max_tokens nor the catalogue limits "
            f"a reply of {model})",
            hint="set --max-tokens so an unanswered request has a worst case",
        )


class Budget:
    def __init__(self, limit: float, model_of: Callable[[Record], str]) -> None:
        self.limit = limit
        self._model_of = model_of
        self.charged = 0.0  # replies' cost and maybe-billed worst cases
        self._lock = threading.Lock()  # charged from every worker

    def charge(self, done: Done) -> bool:
        """Count `done`; whether the budget is spent. Raises Unbounded."""
        if done.reply is not None and done.reply.cost is not None:
            amount = done.reply.cost
        elif isinstance(done.error, Unanswered):
            if done.error.worst is None:
                record = done.job.record
                raise Unbounded(record, self._model_of(record))
            amount = done.error.worst
        else:
            amount = 0.0
        with self._lock:
            self.charged += amount
            return self.charged >= self.limit
