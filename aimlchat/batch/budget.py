"""--max-cost and max_cost_per_day: what a batch has spent, counted as each result comes
back.

A reply counts its cost: the API's exact charge when it sent one, else the catalogue's
estimate (batch.request). A reply whose cost is unknown (neither) ends the batch under
--max-cost, since the budget could no longer be kept. A request that may have been
billed (sent, no answer) counts the most it can have cost (`Requester.worst_case`):
the estimated prompt plus the longest reply it allowed; one with no such bound ends
the batch likewise. So estimates only ever stand in for a charge that never came; they
decide whether to go on, never replace a charge the API reported.

Counted in the worker as each item ends, before it takes the next one and before a
result waits for its turn in --ordered's reorder buffer: so the batch passes the budget
by the other requests already in flight at most (-j - 1), in either order.

max_cost_per_day adds this batch's spend to what history recorded today when the batch
began (other processes' spend during the batch is not seen until the next run).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from aimlchat.batch.records import Record
from aimlchat.batch.request import Unanswered
from aimlchat.batch.scheduler import Done
from aimlchat.chat.budget import BudgetReached, local_midnight, usd
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


class Uncounted(Unbounded):
    """A reply whose cost is unknown: no charge from the API, no token counts to price."""

    def __init__(self, record: Record, model: str) -> None:
        AimlchatError.__init__(
            self,
            f"--max-cost: the cost of item {record.id} is unknown (the server sent neither "
            f"a charge nor token counts for {model})",
            hint="drop --max-cost for this server",
        )


class Daily:
    """max_cost_per_day for a batch: the limit, and what was spent today before it."""

    def __init__(self, limit: float, before: float, *, source: str) -> None:
        self.limit = limit
        self.before = before
        self.source = source

    def reached(self, charged: float) -> BudgetReached | None:
        today = self.before + charged
        if today < self.limit:
            return None
        hint = (
            "a higher --max-cost-per-day allows more today"
            if self.source.startswith("flag")
            else f"--max-cost-per-day USD overrides {self.source} for one run"
        )
        return BudgetReached(
            f"max_cost_per_day {usd(self.limit)} reached ({usd(today)} spent today)",
            hint=hint,
        )


class Budget:
    def __init__(
        self,
        limit: float | None,
        model_of: Callable[[Record], str],
        daily: Daily | None = None,
    ) -> None:
        self.limit = limit
        self.daily = daily
        self._model_of = model_of
        self.charged = 0.0  # replies' cost and maybe-billed worst cases
        self._lock = threading.Lock()  # charged from every worker

    def charge(self, done: Done) -> BudgetReached | bool:
        """Count `done`; False while the budget holds, True when --max-cost is spent,
        BudgetReached when max_cost_per_day is. Raises Unbounded (or Uncounted)."""
        record = done.job.record
        if done.reply is not None:
            if done.reply.cost is not None:
                amount = done.reply.cost
            elif self.limit is not None:
                raise Uncounted(record, self._model_of(record))
            else:
                amount = 0.0  # the daily limit counts what is known, as history does
        elif isinstance(done.error, Unanswered):
            if done.error.worst is None:
                if self.limit is not None:
                    raise Unbounded(record, self._model_of(record))
                amount = 0.0
            else:
                amount = done.error.worst
        else:
            amount = 0.0
        with self._lock:
            self.charged += amount
            if self.limit is not None and self.charged >= self.limit:
                return True
            daily = None if self.daily is None else self.daily.reached(self.charged)
            return daily if daily is not None else False


def daily_limit(
    limit: float, source: str, db_file: Path, warn: Callable[[str], None], now: float
) -> Daily:
    """max_cost_per_day as a batch begins: what history recorded today, read once.
    BudgetReached (exit 1) when it is spent already: no item is asked."""
    before = 0.0
    if db_file.is_file():  # no history yet: nothing spent today that it could show
        from aimlchat.storage.store import Store

        try:
            store = Store(db_file)
        except AimlchatError as exc:
            warn(f"{exc.message}; max_cost_per_day counts this batch only")
        else:
            try:
                before = store.spent(local_midnight(now))
            finally:
                store.close()
    daily = Daily(limit, before, source=source)
    reached = daily.reached(0.0)
    if reached is not None:
        raise BudgetReached(f"{reached.message}; no item was asked", hint=reached.hint)
    return daily
