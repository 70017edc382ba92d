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
real cost replaces it. With requests in flight and no room, a worker waits (on a
condition, woken as each reservation is released or the batch stops) for them to end
and looks again; with none, the budget is spent. So a batch passes --max-cost by one
request's worst case at most, whatever -j (an item's own -f files are not in that
worst case: they are read when it is sent). An item whose worst case is unknown (no
--max-tokens and no catalogue limit on its reply) holds nothing it could be measured
by, so it runs alone: only once nothing else is in flight, and nothing starts beside
it; the overshoot then stays one request, whatever -j. Sums are whole micro-dollars
(aimlchat.money).

max_cost_per_day reads what history recorded today (a run past midnight, and other
processes' spend, are seen), at most once a second for all the workers together and
never while a worker holds the budget's lock, adding this batch's spend that history
does not hold (without --history, all of it) and the requests in flight.
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

REREAD = 1.0  # seconds: history's spend for the day is read again at most this often
WAKE = 5.0  # seconds: a waiting worker looks again at the latest, whatever wakes it


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
    read by `refresh`; None: no history to read), and this batch's spend that history
    does not hold yet, in micro-dollars."""

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
        self._day: tuple[float, float, int] | None = None  # since, read at, micro-USD
        # The sums, held only to add: a look at the day never sees a reply both in
        # history (as last read) and unsaved, nor in neither.
        self._lock = threading.Lock()
        # A read of history, or a reply of this batch being written there: one at a
        # time, so a read's figure and `unsaved` always agree.
        self._io = threading.Lock()

    def add(self, usd_amount: float) -> None:
        with self._lock:
            self.unsaved += micro(usd_amount)

    @contextlib.contextmanager
    def saving(self, usd_amount: float) -> Iterator[None]:
        """Around writing a reply of this batch to history (--history): once written, it
        is counted there (when history is read: with none when the batch began, this
        batch's spend counts alone)."""
        with self._io:
            yield
            if self._recorded is not None:
                with self._lock:
                    self.unsaved -= micro(usd_amount)
                    if self._day is not None:
                        since, at, spent = self._day
                        self._day = (since, at, spent + micro(usd_amount))

    def refresh(self, *, force: bool = False) -> None:
        """Read today's spend in history again when the last read is a second old (or of
        another day). Never under a lock a worker waits on: while one thread reads (or a
        reply is being saved), the others go on with the last figure. StoreError when
        history cannot be read."""
        if self._recorded is None:
            return
        now = time.monotonic()
        since = local_midnight(self._now())
        with self._lock:
            day = self._day
        stale = day is None or day[0] != since or now - day[1] >= REREAD
        if not (stale or force):
            return
        if not self._io.acquire(blocking=force or day is None):
            return
        try:
            spent = micro(self._recorded(since))
            with self._lock:
                self._day = (since, now, spent)
        finally:
            self._io.release()

    def reached(self, held: int = 0) -> BudgetReached | None:
        """BudgetReached when today's spend (history as last `refresh`ed), with `held`
        (micro-USD in flight), is at the limit."""
        with self._lock:
            recorded = 0 if self._day is None else self._day[2]
            today = recorded + self.unsaved + held
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
        self._alone: int | None = None  # the item in flight whose worst case is unknown
        self._lone_waiting = 0  # such items waiting for the others to end
        # Charged from every worker; a worker waiting for room is woken by each end.
        self._lock = threading.Condition()

    def wake(self) -> None:
        """The batch is stopping: waiting workers look again (and are turned back)."""
        with self._lock:
            self._lock.notify_all()

    def start(
        self, seq: int, worst: float | None, stopping: Callable[[], bool] = lambda: False
    ) -> BudgetReached | bool:
        """Before item `seq` is sent: False to send it (its worst case is held until
        `charge`); True when --max-cost leaves no room, BudgetReached when the day is
        spent. With requests in flight and no room, waits for them to end first (or
        for the batch to be `stopping`, see `wake`: then False, and the closed gate
        turns it back). An item with no known `worst` waits until nothing else is in
        flight, and nothing starts beside it."""
        lone = worst is None
        waiting = False
        try:
            while True:
                if self.daily is not None:
                    self.daily.refresh()  # before the lock: no worker waits on a read
                with self._lock:
                    if stopping():
                        return False
                    held = sum(self._held.values())
                    full = self._limit is not None and self.charged + held >= self._limit
                    daily = None if full or self.daily is None else self.daily.reached(held)
                    if full or daily is not None:
                        if not self._held:  # nothing in flight to wait for: spent
                            return daily if daily is not None else True
                    elif self._alone is None and not (self._held if lone else self._lone_waiting):
                        self._held[seq] = 0 if worst is None else micro(worst)
                        if lone:
                            self._alone = seq
                        return False
                    if lone and not waiting:
                        waiting = True
                        self._lone_waiting += 1
                    self._lock.wait(WAKE)
        finally:
            if waiting:
                with self._lock:
                    self._lone_waiting -= 1
                    self._lock.notify_all()

    def charge(self, done: Done) -> BudgetReached | bool:
        """Count `done` and release what it held; False while the budget holds, True
        when --max-cost is spent, BudgetReached when max_cost_per_day is. Raises
        Unbounded (or Uncounted)."""
        try:
            amount = self._cost(done)
        except BaseException:
            self._release(done.job.seq, 0)
            raise
        if self.daily is not None:
            self.daily.add(amount)  # before the release: counted twice a moment, never none
        self._release(done.job.seq, micro(amount))
        if self.daily is not None:
            self.daily.refresh()
        with self._lock:
            if self._limit is not None and self.charged >= self._limit:
                return True
            daily = None if self.daily is None else self.daily.reached()
            return daily if daily is not None else False

    def _release(self, seq: int, charged: int) -> None:
        """The item's reservation replaced by what it cost, at once: a waiting worker
        never sees it in neither."""
        with self._lock:
            self._held.pop(seq, None)
            if self._alone == seq:
                self._alone = None
            self.charged += charged
            self._lock.notify_all()

    def _cost(self, done: Done) -> float:
        record = done.job.record
        if done.reply is not None:
            if done.reply.cost is not None:
                return done.reply.cost
            if self.limit is not None:
                raise Uncounted(record, self._model_of(record))
            return 0.0  # the daily limit counts what is known, as history does
        if isinstance(done.error, Unanswered):
            if done.error.worst is None:
                if self.limit is not None:
                    raise Unbounded(record, self._model_of(record))
                return 0.0
            return done.error.worst
        return 0.0


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
    daily.refresh(force=True)
    reached = daily.reached()
    if reached is not None:
        raise BudgetReached(f"{reached.message}; no item was asked", hint=reached.hint)
    return daily
