"""Worker threads: each takes one item at a time, passes the gate before every attempt,
retries what is worth retrying, and hands back exactly one `Done` per item.

What is retried is decided by `ask`'s policy (aimlchat.api.retry): 429 and 503 pause the
whole batch (see `gate`) and the item goes again, for as long as the batch is making
progress; a Retry-After longer than the policy waits closes the gate at once (no other
worker sends again) and stops the batch, as `ask` refuses. The policy's other retryable
failures (408, 409, other 5xx, a connection never made) are retried per item,
`--retries` times with its backoff. A timeout or a dropped connection after the request
went out is never sent again: it may have been billed. Any other error is the item's
own and is recorded. 401/403 stop the batch: every item would fail alike.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable

from aimlchat.api.retry import RetryPolicy
from aimlchat.batch.gate import Cancelled, RateGate, Stalled
from aimlchat.batch.records import Record
from aimlchat.batch.request import Reply
from aimlchat.errors import AimlchatError, ApiError, AuthError, RateLimitError
from aimlchat.record import record


@record(frozen=True)
class Job:
    seq: int  # the order the item was read in
    record: Record


@record()
class Done:
    job: Job
    reply: Reply | None = None
    error: AimlchatError | None = None  # the item failed: recorded in OUT
    abandoned: bool = False  # never sent (or not retried): the batch was stopping
    fatal: BaseException | None = None  # stops the whole batch
    sent: float | None = None  # when the last attempt went out (the gate's clock)
    ended: float | None = None  # when that attempt failed
    # Set once the main loop has taken the Done in (written; with --ordered, perhaps held
    # for an earlier item): till then its worker sends nothing more, so a kill -9 costs at
    # most one request per worker (plus, ordered, the replies held). Not "written" there:
    # a held reply waits for an item a worker must still be free to send.
    taken: threading.Event = dataclasses.field(
        default_factory=threading.Event, compare=False, repr=False
    )


Send = Callable[[Record], Reply]


def _stalled(patience: float) -> RateLimitError:
    return RateLimitError(
        f"rate limited for over {patience / 60:.0f} minutes without a single success",
        status=429,
        hint="the key's limit is spent for now; run the same command later to resume",
    )


class TooLong(RateLimitError):
    """The server asks the key to wait longer than the retry policy waits."""

    def __init__(self, error: ApiError, seconds: float) -> None:
        asks = f"the server asks to wait {seconds:.0f}s"
        # The client says so already, by the same policy: once is enough.
        super().__init__(
            error.message if asks in error.message else f"{error.message}; {asks}",
            status=error.status,
            retry_after=seconds,
        )
        self.exit_code = error.exit_code  # 5 for a 429; a 503 is the service's


def run_item(job: Job, send: Send, gate: RateGate, policy: RetryPolicy, patience: float) -> Done:
    tries = 0
    while True:
        try:
            ticket = gate.acquire()
        except Cancelled:
            return Done(job, abandoned=True)
        try:
            reply = send(job.record)
        except AuthError as exc:
            gate.release(ticket, ok=False)
            return Done(job, fatal=exc)
        except AimlchatError as exc:
            if isinstance(exc, ApiError) and policy.shared(exc):
                asked = policy.too_long(exc)
                if asked is not None:
                    gate.release(ticket, ok=False)
                    gate.close()  # here, not in the main loop: not one more request
                    return Done(job, abandoned=True, fatal=TooLong(exc, asked))
                try:
                    gate.rate_limited(ticket, exc.retry_after)
                except Stalled:
                    return Done(job, fatal=_stalled(patience))
                continue
            gate.release(ticket, ok=False)
            delay = policy.delay(tries, exc)
            if delay is None:
                return Done(job, error=exc, sent=ticket.started, ended=gate.now())
            try:
                gate.sleep(delay)
            except Cancelled:
                return Done(job, abandoned=True)
            tries += 1
            continue
        except Exception as exc:  # a bug: stop the batch, and let the boundary say so
            gate.release(ticket, ok=False)
            return Done(job, fatal=exc)
        gate.release(ticket, ok=True)
        return Done(job, reply=reply, sent=ticket.started)


class Pool:
    """`size` threads, each running one item at a time: never more than `size` requests."""

    def __init__(
        self,
        size: int,
        work: Callable[[Job], Done],
        deliver: Callable[[Done], None],
    ) -> None:
        self._work = work
        self._deliver = deliver
        self._tasks: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"aimlchat-batch-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        self._tasks.put(job)

    def queued(self) -> int:
        """Jobs no worker has taken yet."""
        return self._tasks.qsize()

    def _loop(self) -> None:
        while (job := self._tasks.get()) is not None:
            try:
                done = self._work(job)
            except Exception as exc:  # a bug: the item's Done stops the batch, never hangs it
                done = Done(job, fatal=exc)
            self._deliver(done)  # what the item held is released there

    def close(self, *, wait: bool) -> None:
        """No more jobs. With `wait`, join the workers; else leave them (daemons) behind."""
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
