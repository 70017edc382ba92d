"""The main thread of a batch: keep the workers fed from a bounded window of items,
write each result as it finishes (or in input order), and stop cleanly.

Three kinds of thread meet in one queue, the inbox: a feeder that reads IN (so a slow
producer on stdin never holds back writing results), the workers, and this loop. The
loop waits on nothing else, and only a tenth of a second at a time, so a stop request
from a signal handler is seen at once. The window (credits) bounds memory: at most
`window` items are read and not yet written, whatever the size of IN.

A request that surely never left (refused, DNS, connect timeout: `NetworkError.unsent`,
after the item's retries) says nothing yet about the item: the server may be down for
everyone. So it is held, not written, until a request sent after it failed gets an HTTP
answer: then the server was there, and the failure is the item's error record. (An
answer to a request sent earlier proves nothing: when a server goes down, requests
already in its hands still come back.) A held item gives its credit back at once, so
the feeder keeps the workers busy to find out. As many held as `-j` (at least 3 once
this run had an answer), or any left at the end, stop the batch: nothing is written for
them, and a rerun asks them again.

A request that may have reached the server and got no answer (a timeout after it was
sent, a connection dropped unanswered) is never held: it may have been billed, so it is
the item's error record at once, which a rerun skips; only --retry-errors asks again.
Under --max-cost it counts its worst case (see `budget`).

When the loop gives up on the requests in flight (a second Ctrl-C, or the grace period
over), it first writes whatever came back, and counts as dropped only the requests that
are still out: items read but never sent are not counted, as the closed gate turns them
back at once. OUT that cannot be written (or fsynced) stops the batch at once, since no
result could be kept.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from aimlchat.batch.budget import Budget, Daily, Unbounded
from aimlchat.batch.gate import RateGate
from aimlchat.batch.outfile import WriteFailed
from aimlchat.batch.progress import Progress, Stats
from aimlchat.batch.records import Record
from aimlchat.batch.reorder import Reorder
from aimlchat.batch.request import Unanswered
from aimlchat.batch.scheduler import Done, Job, Pool, TooLong
from aimlchat.errors import AimlchatError, ApiError, NetworkError, UsageError, redact
from aimlchat.record import record

POLL = 0.1
GRACE = 5.0  # seconds in-flight requests get after Ctrl-C or SIGTERM
SETTLE = 1.0  # at most, for items never sent to come back once the gate is closed
UNREACHABLE_AFTER = 3  # held network failures that stop a batch, once it had an answer


class Writer(Protocol):
    shares_terminal: bool

    def write(self, line: str) -> None: ...

    def tick(self) -> None: ...


class StopFlag:
    """Why the batch stops taking items. Set from signal handlers: only plain writes."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.urgent = False  # a second Ctrl-C: do not wait for the requests in flight

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        else:
            self.urgent = True


@record()
class Ending:
    # None: every item was read | interrupt terminate hangup budget unpriced input fatal
    # unreachable rate_limited (a Retry-After longer than the retry policy waits)
    # unbounded (--max-cost, and a request that may have been billed has no worst case,
    # or a reply's cost is unknown) daily (max_cost_per_day)
    reason: str | None
    error: BaseException | None = None
    left_in_flight: int = 0  # requests still running when the loop gave up on them
    unrecorded: int = 0  # items whose request never left (held), written nowhere


def _budget_reason(error: AimlchatError | None) -> str:
    """--max-cost spent (None), max_cost_per_day reached, or a cost that cannot be counted."""
    if error is None:
        return "budget"
    return "unbounded" if isinstance(error, Unbounded) else "daily"


def result_line(record: Record, model: str, done: Done) -> str:
    obj: dict[str, Any] = {"id": record.id}
    if done.reply is not None:
        r = done.reply
        obj.update(text=r.text, finish_reason=r.finish_reason, usage=r.usage, cost=r.cost)
        obj.update(cost_source=r.cost_source, inference_id=r.inference_id)
        obj.update(client_request_id=r.client_request_id, model=model, error=None)
    else:
        exc = done.error
        assert exc is not None
        error = {
            "status": getattr(exc, "status", None),
            "message": redact(exc.message),
            "exit_code": int(exc.exit_code),
        }
        obj.update(text=None, finish_reason=None, usage=None, cost=None, model=model)
        obj.update(error=error)
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from the server: escape, stay valid UTF-8
        line = json.dumps(obj)
    return line + "\n"


class Runner:
    def __init__(
        self,
        *,
        records: Iterator[Record],
        work: Callable[[Job], Done],
        gate: RateGate,
        concurrency: int,
        ordered: bool,
        writer: Writer,
        progress: Progress,
        model_of: Callable[[Record], str],
        flag: StopFlag,
        max_cost: float | None = None,
        daily: Daily | None = None,  # max_cost_per_day
        priced: Callable[[str], bool] = lambda model: True,
        worst: Callable[[Record], float | None] = lambda record: None,
        on_success: Callable[[Done], None] | None = None,
        notice: Callable[[str], None] = lambda text: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = gate
        self._writer = writer
        self._progress = progress
        self.stats: Stats = progress.stats
        self._model_of = model_of
        self._flag = flag
        self._max_cost = max_cost
        budgeted = max_cost is not None or daily is not None
        self._budget = Budget(max_cost, model_of, daily) if budgeted else None
        self._priced = priced  # --max-cost can count what this model costs
        self._worst = worst  # the most an item's request can cost: held while it runs
        self._work = work
        self._on_success = on_success
        self._notice = notice
        self._clock = clock
        # Enough items ahead to keep every worker busy; more when order must be kept,
        # so that one slow item does not stall the pool at once.
        window = concurrency * (4 if ordered else 2)
        self._concurrency = concurrency
        self._credits = threading.Semaphore(window)
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._reorder: Reorder[Done] = Reorder(ordered=ordered)
        self._seq = 0
        self._pending = 0  # submitted, no Done yet
        self._exhausted = False
        self._quit = False
        self._deadline: float | None = None
        self._answered = False  # some request of this run got an HTTP answer
        self._held: list[Done] = []  # requests never sent, no later one answered after
        self._unasked = 0  # items read and never sent (turned back, or read after a stop)
        self._credited: set[int] = set()  # seqs held, whose credit went back already
        self.ending = Ending(None)
        threading.Thread(
            target=self._feed, args=(records,), name="aimlchat-batch-feed", daemon=True
        ).start()
        self._pool = Pool(concurrency, self._start, self._deliver)

    # -- the feeder thread ---------------------------------------------------------------

    def _feed(self, records: Iterator[Record]) -> None:
        try:
            for record in records:
                self._credits.acquire()
                if self._quit:
                    return
                self._inbox.put(("item", record))
            self._inbox.put(("end", None))
        except AimlchatError as exc:
            self._inbox.put(("bad", exc))
        except OSError as exc:
            self._inbox.put(("bad", AimlchatError(f"cannot read the input: {exc.strerror}")))
        except BaseException as exc:  # reported by the main thread, not lost in this one
            self._inbox.put(("bad", exc))

    # -- the workers, as each item starts and ends ------------------------------------------

    def _start(self, job: Job) -> Done:
        """In the worker, before the item is sent: its worst case held against the budget,
        or, with no room left, the gate closed and the item turned back (never sent)."""
        if self._budget is not None:
            try:
                worst = self._worst(job.record)
            except Exception:  # the item's own error, told when it is sent (run_item)
                worst = None
            go: AimlchatError | bool
            try:
                go = self._budget.start(job.seq, worst, lambda: self._gate.closed)
            except AimlchatError as exc:  # history unreadable: the day cannot be kept
                go = exc
            if go is not False:
                self._spent(go)
                return Done(job, abandoned=True)
        return self._work(job)

    def _spent(self, reached: AimlchatError | bool) -> None:
        self._gate.close()
        self._wake()
        self._inbox.put(("budget", None if reached is True else reached))

    def _wake(self) -> None:
        """The gate is closed: workers waiting for room in the budget turn back now."""
        if self._budget is not None:
            self._budget.wake()

    def _deliver(self, done: Done) -> None:
        """In the worker, before it takes its next item: a spent budget closes the gate
        at once, so the worker that spent it sends nothing more. Whatever goes wrong,
        the Done reaches the main loop: a batch never waits for an item forever."""
        try:
            if self._budget is not None:
                try:
                    spent = self._budget.charge(done)
                except AimlchatError as exc:  # Unbounded, or history unreadable
                    self._spent(exc)
                else:
                    if spent is not False:
                        self._spent(spent)
        except Exception as exc:  # a bug: stop the batch, and let the boundary say so
            self._gate.close()
            self._wake()
            if done.fatal is None:
                done.fatal = exc
        finally:
            self._inbox.put(("done", done))
        # A reply received but not yet written is lost to a kill -9 like one in flight:
        # not one more request from this worker until the main loop has it on disk (or,
        # --ordered, in the reorder buffer). A stalled main loop (a slow fsync) now holds
        # the workers too, which costs nothing next to a request's own time.
        while not done.taken.wait(POLL) and not self._quit:
            pass

    # -- the main loop ---------------------------------------------------------------------

    def run(self) -> Ending:
        try:
            while not self._over():
                self._watch_flag()
                try:
                    kind, value = self._inbox.get(timeout=POLL)
                except queue.Empty:
                    kind, value = "", None
                self._handle(kind, value)
                self._tick()
                self.stats.retries = self._gate.retries
                paused = self._gate.paused
                changed, self.stats.paused = paused != self.stats.paused, paused
                self._progress.update(force=changed)
        finally:
            self._finish()
        return self.ending

    def _over(self) -> bool:
        if self._deadline is not None and self._clock() >= self._deadline:
            return True
        return self._pending == 0 and (self._exhausted or self.ending.reason is not None)

    def _watch_flag(self) -> None:
        if self._flag.reason is not None:
            self.stop(self._flag.reason)
        if self._flag.urgent:
            self._deadline = self._clock()

    def _handle(self, kind: str, value: Any) -> None:
        if kind == "item":
            if self.ending.reason is None and not self._unpriced(value):
                self._pool.submit(Job(self._seq, value))
                self._seq += 1
                self._pending += 1
            else:
                self._unasked += 1
        elif kind == "done":
            self._pending -= 1
            self._take(value)
        elif kind == "end":
            self._exhausted = True
        elif kind == "bad":
            self._exhausted = True
            self.stop("input" if isinstance(value, AimlchatError) else "fatal", value)
        elif kind == "budget":  # before the Done that spent it
            self.stop(_budget_reason(value), value)

    def _unpriced(self, record: Record) -> bool:
        """--max-cost cannot hold for a model without a price: end the batch at it."""
        model = self._model_of(record)
        if self._max_cost is None or self._priced(model):
            return False
        self.stop(
            "unpriced",
            UsageError(
                f"--max-cost: the catalogue has no price for {model} (input line {record.line})"
            ),
        )
        return True

    def _broken(self, exc: WriteFailed) -> None:
        """OUT cannot keep results: stop now, without waiting for the requests out."""
        self.stop("fatal", exc)
        self.ending.reason, self.ending.error = "fatal", exc  # over any other reason
        self._deadline = self._clock()

    def _tick(self) -> None:
        try:
            self._writer.tick()
        except WriteFailed as exc:
            self._broken(exc)

    def stop(self, reason: str, error: BaseException | None = None) -> None:
        """Take no new items; let the requests in flight end (within GRACE on a signal)."""
        if self.ending.reason is not None:
            return
        self.ending.reason = reason
        self.ending.error = error
        self._gate.close()
        self._wake()
        if reason in ("interrupt", "terminate", "hangup"):
            self._deadline = self._clock() + GRACE
            if self._pending:
                self._progress.clear()
                again = "; Ctrl-C again to stop now" if reason == "interrupt" else ""
                self._notice(
                    f"stopping: waiting up to {GRACE:g}s for the requests in flight{again}"
                )

    def _take(self, done: Done) -> None:
        try:
            self._take_in(done)
        finally:
            done.taken.set()  # its worker may go on

    def _take_in(self, done: Done) -> None:
        if done.abandoned:
            self._unasked += 1
        if done.fatal is not None:
            self.stop("rate_limited" if isinstance(done.fatal, TooLong) else "fatal", done.fatal)
        if isinstance(done.error, NetworkError) and done.error.unsent:
            self._hold(done)
            return
        # An HTTP answer, any: a request dropped or timed out unanswered proves nothing
        # (a server going down drops what it holds); an item's own UsageError was not sent.
        if done.reply is not None or isinstance(done.error, ApiError):
            self._answered = True
            if done.sent is not None and self.ending.reason != "unreachable":
                self._release_held(before=done.sent)
        self._pass(done)

    def _hold(self, done: Done) -> None:
        self._held.append(done)
        self._credited.add(done.job.seq)
        self._credits.release()
        limit = max(UNREACHABLE_AFTER, self._concurrency) if self._answered else self._concurrency
        if len(self._held) >= limit:
            self.stop("unreachable", self._held[0].error)

    def _release_held(self, *, before: float) -> None:
        """The items that failed before `before`, when a request sent then was answered."""
        still: list[Done] = []
        for held in self._held:
            if held.ended is not None and held.ended < before:
                self._pass(held)
            else:
                still.append(held)
        self._held = still

    def _pass(self, done: Done) -> None:
        """On to OUT, through the reorder buffer; each item leaving it frees a credit."""
        keep = done if done.reply is not None or done.error is not None else None
        for ready in self._reorder.add(done.job.seq, keep):
            if ready is None or ready.job.seq not in self._credited:
                self._credits.release()
            else:
                self._credited.discard(ready.job.seq)
            if ready is not None:
                self._write(ready)

    def _write(self, done: Done) -> None:
        record = done.job.record
        line = result_line(record, self._model_of(record), done)
        if self._writer.shares_terminal:
            self._progress.clear()
        try:
            self._writer.write(line)
        except WriteFailed as exc:
            self._broken(exc)
            return
        s = self.stats
        s.done += 1
        if done.reply is None:
            s.errors += 1
            if isinstance(done.error, Unanswered):
                s.maybe_billed += 1
                s.at_risk += done.error.worst or 0.0
            return
        usage = done.reply.usage
        if usage:
            s.tokens += usage.get("total_tokens", 0)
        if done.reply.cost is None:
            s.unpriced += 1
        else:
            s.priced += 1
            s.cost += done.reply.cost
        if self._on_success is not None:
            self._on_success(done)

    def _settle(self) -> int:
        """The loop gave up with items pending: take in what came back (and the items
        the closed gate turned back) until only requests still out are left; their count.

        Pending items are queued (never sent), held by a worker on their way back, or out
        (holding a gate ticket). The gate is closed, so none goes out any more: once the
        pending count is the queued ones plus those out, the rest are back."""
        self._gate.close()
        end = self._clock() + SETTLE
        while self._pending:
            queued = self._pool.queued()  # first: a job taken after this is never sent
            out = self._gate.in_flight
            if self._pending <= queued + out or self._clock() >= end:
                return min(out, self._pending)
            try:
                kind, value = self._inbox.get(timeout=POLL)
            except queue.Empty:
                continue
            if kind == "done":
                self._pending -= 1
                self._take(value)
        return 0

    def _none_left(self) -> bool:
        """A budget stop with every item asked: none was turned back, and the input
        ends (looked for a moment only: a slow producer on stdin may have more)."""
        if self.ending.reason not in ("budget", "daily") or self._unasked:
            return False
        end = self._clock() + SETTLE
        while not self._exhausted and self._clock() < end:
            try:
                kind, _ = self._inbox.get(timeout=POLL)
            except queue.Empty:
                continue
            if kind == "item":
                self._unasked += 1
                return False
            self._exhausted = kind in ("end", "bad")
            if kind == "bad":
                return False
        return self._exhausted

    def _finish(self) -> None:
        left = self._settle()
        # Results held for order behind an item that will not come: written all the
        # same (paid for), in input order; the rerun appends what is missing.
        for done in self._reorder.drain():
            self._write(done)
        if self._held:
            # Nothing answered after these: the server may as well have been down.
            if self.ending.reason is None:
                self.ending.reason, self.ending.error = "unreachable", self._held[0].error
            self.ending.unrecorded = len(self._held)
        self.ending.left_in_flight = left
        if not left and not self._pending and not self._held and self._none_left():
            # The limit was reached by the last item: it stopped nothing.
            self.ending.reason, self.ending.error = None, None
        self._quit = True
        self._credits.release()  # wake the feeder so it sees _quit
        self._gate.close()
        self._pool.close(wait=self._pending == 0)
        self._tick()
