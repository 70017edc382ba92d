"""--max-cost and max_cost_per_day: what a batch has spent, counted as each result comes
back, and what the requests in flight may still cost.

A reply counts its cost: the API's exact charge when it sent one, else the catalogue's
estimate (batch.request). A reply whose cost is unknown (neither) ends the batch under
--max-cost, since the budget could no longer be kept. A request that may have been
billed (sent, no answer) counts the most it can have cost (`Requester.worst_case`):
the estimated prompt plus the longest reply it allowed; one with no such bound ends
the batch likewise. So estimates only ever stand in for a charge that never came; they
decide whether to go on, never replace a charge the API reported.

An item starts only while what is spent plus the worst case of every request in flight
is under the limit; its own worst case is then held for it until it ends, when its
real cost replaces it. With requests in flight and no room, a worker waits for them to
end and looks again; with none, the budget is spent. So a batch passes --max-cost by
one request's worst case at most, whatever -j (an item's own -f files are not in that
worst case: they are read when it is sent). Sums are whole micro-dollars
(aimlchat.money).

max_cost_per_day re-reads what history recorded today before each item starts (a run
past midnight, and other processes' spend, are seen), adding this batch's spend that
history does not hold (without --history, all of it) and the requests in flight.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from aimlchat.batch.records import Record
from aimlchat.batch.request import Unanswered
from aimlchat.batch.scheduler import Done
from aimlchat.chat.budget import BudgetReached, daily_hint, local_midnight
from aimlchat.errors import AimlchatError
from aimlchat.money import micro, usd

WAIT = 0.1  # seconds a worker waits at a time for room in the budget


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
    """max_cost_per_day for a batch: the limit, what history recorded today (`recorded`,
    read again at each look; None: no history to read), and this batch's spend that
    history does not hold yet, in micro-dollars."""

    def __init__(
        self,
        limit: float,
        *,
        source: str,
        recorded: Callable[[float], float] | None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.source = source
        self._recorded = recorded
        self._now = now
        self.unsaved = 0  # micro-USD: charged in this batch, not (yet) in history
        # Charged in the workers, saved in the main thread: a look at the day never sees
        # a reply both in history and unsaved, nor in neither.
        self._lock = threading.Lock()

    def add(self, usd_amount: float) -> None:
        with self._lock:
            self.unsaved += micro(usd_amount)

    @contextlib.contextmanager
    def saving(self, usd_amount: float) -> Iterator[None]:
        """Around writing a reply of this batch to history (--history): once written, it
        is counted there (when history is read: with none when the batch began, this
        batch's spend counts alone)."""
        with self._lock:
            yield
            if self._recorded is not None:
                self.unsaved -= micro(usd_amount)

    def reached(self, held: int = 0) -> BudgetReached | None:
        """BudgetReached when today's spend, with `held` (micro-USD in flight), is at
        the limit."""
        with self._lock:
            since = local_midnight(self._now())
            recorded = 0.0 if self._recorded is None else self._recorded(since)
            today = micro(recorded) + self.unsaved + held
        if today < micro(self.limit):
            return None
        return BudgetReached(
            f"max_cost_per_day {usd(self.limit)} reached ({usd(today / 1e6)} spent today)",
            hint=daily_hint(self.source),
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
        self._limit = None if limit is None else micro(limit)
        self.charged = 0  # micro-USD: replies' cost and maybe-billed worst cases
        self._held: dict[int, int] = {}  # item (seq) -> its worst case, while in flight
        # Charged from every worker; a worker waiting for room is woken by each end.
        self._lock = threading.Condition()

    def start(
        self, seq: int, worst: float | None, stopping: Callable[[], bool] = lambda: False
    ) -> BudgetReached | bool:
        """Before item `seq` is sent: False to send it (its worst case is held until
        `charge`); True when --max-cost leaves no room, BudgetReached when the day is
        spent. With requests in flight and no room, waits for them to end first (or
        for the batch to be `stopping`: then False, and the closed gate turns it back)."""
        with self._lock:
            while not stopping():
                held = sum(self._held.values())
                full = self._limit is not None and self.charged + held >= self._limit
                daily = None if full or self.daily is None else self.daily.reached(held)
                if not full and daily is None:
                    self._held[seq] = micro(worst or 0.0)
                    return False
                if not held:  # nothing in flight to wait for: spent
                    return daily if daily is not None else True
                self._lock.wait(WAIT)
            return False

    def charge(self, done: Done) -> BudgetReached | bool:
        """Count `done`; False while the budget holds, True when --max-cost is spent,
        BudgetReached when max_cost_per_day is. Raises Unbounded (or Uncounted)."""
        with self._lock:
            self._held.pop(done.job.seq, None)
            self._lock.notify_all()
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
            self.charged += micro(amount)
            if self.daily is not None:
                self.daily.add(amount)
            if self._limit is not None and self.charged >= self._limit:
                return True
            daily = None if self.daily is None else self.daily.reached()
            return daily if daily is not None else False


def daily_limit(
    limit: float,
    source: str,
    db_file: Path,
    warn: Callable[[str], None],
    now: Callable[[], float] = time.time,
) -> Daily:
    """max_cost_per_day as a batch begins, read from history (read-only: storage.spend).
    BudgetReached (exit 1) when it is spent already: no item is asked."""
    from aimlchat.storage.spend import history_spend

    reader = history_spend(db_file)
    if isinstance(reader, str):
        warn(f"{reader}; max_cost_per_day counts this batch only")
        reader = None
    daily = Daily(limit, source=source, recorded=reader, now=now)
    reached = daily.reached()
    if reached is not None:
        raise BudgetReached(f"{reached.message}; no item was asked", hint=reached.hint)
    return daily
