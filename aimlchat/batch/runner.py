"""The main thread of a batch: keep the workers fed from a bounded window of items,
write each result as it finishes (or in input order), and stop cleanly.

Three kinds of thread meet in one queue, the inbox: a feeder that reads IN (so a slow
producer on stdin never holds back writing results), the workers, and this loop. The
loop waits on nothing else, and only a tenth of a second at a time, so a stop request
from a signal handler is seen at once. The window (credits) bounds memory: at most
`window` items are read and not yet written, whatever the size of IN.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aimlchat.batch.gate import RateGate
from aimlchat.batch.progress import Progress, Stats
from aimlchat.batch.records import Record
from aimlchat.batch.reorder import Reorder
from aimlchat.batch.scheduler import Done, Job, Pool
from aimlchat.errors import AimlchatError, redact

POLL = 0.1
GRACE = 5.0  # seconds in-flight requests get after Ctrl-C or SIGTERM


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


@dataclass
class Ending:
    reason: str | None  # None: every item was read | interrupt terminate budget input fatal
    error: BaseException | None = None
    left_in_flight: int = 0  # requests still running when the loop gave up on them


def result_line(record: Record, model: str, done: Done) -> str:
    obj: dict[str, Any] = {"id": record.id}
    if done.reply is not None:
        r = done.reply
        obj.update(text=r.text, finish_reason=r.finish_reason, usage=r.usage, cost=r.cost)
        obj.update(model=model, error=None)
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
        self._on_success = on_success
        self._notice = notice
        self._clock = clock
        # Enough items ahead to keep every worker busy; more when order must be kept,
        # so that one slow item does not stall the pool at once.
        window = concurrency * (4 if ordered else 2)
        self._credits = threading.Semaphore(window)
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._reorder: Reorder[Done] = Reorder(ordered=ordered)
        self._seq = 0
        self._pending = 0  # submitted, no Done yet
        self._exhausted = False
        self._quit = False
        self._deadline: float | None = None
        self.ending = Ending(None)
        threading.Thread(
            target=self._feed, args=(records,), name="aimlchat-batch-feed", daemon=True
        ).start()
        self._pool = Pool(concurrency, work, lambda done: self._inbox.put(("done", done)))

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
                self._writer.tick()
                self.stats.retries = self._gate.retries
                self._progress.update()
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
            if self.ending.reason is None:
                self._pool.submit(Job(self._seq, value))
                self._seq += 1
                self._pending += 1
        elif kind == "done":
            self._pending -= 1
            self._take(value)
        elif kind == "end":
            self._exhausted = True
        elif kind == "bad":
            self._exhausted = True
            self.stop("input" if isinstance(value, AimlchatError) else "fatal", value)

    def stop(self, reason: str, error: BaseException | None = None) -> None:
        """Take no new items; let the requests in flight end (within GRACE on a signal)."""
        if self.ending.reason is not None:
            return
        self.ending.reason = reason
        self.ending.error = error
        self._gate.close()
        if reason in ("interrupt", "terminate"):
            self._deadline = self._clock() + GRACE
            if self._pending:
                self._progress.clear()
                again = "; Ctrl-C again to stop now" if reason == "interrupt" else ""
                self._notice(
                    f"stopping: waiting up to {GRACE:g}s for the requests in flight{again}"
                )

    def _take(self, done: Done) -> None:
        if done.fatal is not None:
            self.stop("fatal", done.fatal)
        keep = done if done.reply is not None or done.error is not None else None
        for ready in self._reorder.add(done.job.seq, keep):
            self._credits.release()
            if ready is not None:
                self._write(ready)

    def _write(self, done: Done) -> None:
        record = done.job.record
        line = result_line(record, self._model_of(record), done)
        if self._writer.shares_terminal:
            self._progress.clear()
        self._writer.write(line)
        s = self.stats
        s.done += 1
        if done.reply is None:
            s.errors += 1
            return
        usage = done.reply.usage
        if usage:
            s.tokens += usage.get("total_tokens", 0)
            if done.reply.cost is None:
                s.unpriced += 1
        s.cost += done.reply.cost or 0.0
        if self._on_success is not None:
            self._on_success(done)
        if self._max_cost is not None and s.cost >= self._max_cost:
            self.stop("budget")

    def _finish(self) -> None:
        # Results held for order behind an item that will not come: written all the
        # same (paid for), in input order; the rerun appends what is missing.
        for done in self._reorder.drain():
            self._write(done)
        self.ending.left_in_flight = self._pending
        self._quit = True
        self._credits.release()  # wake the feeder so it sees _quit
        self._gate.close()
        self._pool.close(wait=self._pending == 0)
        self._writer.tick()
