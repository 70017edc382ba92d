"""The gate every worker passes before each request: shared rate limits and concurrency.

A rate limit belongs to the API key, not to the request that happened to meet it, so a
429 (or 503) on one worker pauses all of them — for the server's `Retry-After`, or an
exponential backoff with jitter, both within the retry policy's longest wait (api.retry)
— and halves how many requests may be in flight (AIMD, as TCP does). Each success adds
1/limit back, so the limit climbs by one per round of successes and returns to
`--concurrency` once the server copes again. The cut is made once per round: 429s for
requests sent before the last cut say nothing new. A longer Retry-After is not waited
for: the scheduler closes the gate and the batch stops, as `ask` refuses.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from aimlchat.api import retry
from aimlchat.record import record


class Cancelled(Exception):
    """The batch is stopping: the item was not sent and is left for the next run."""


class Stalled(Exception):
    """Rate limited for so long with no success that waiting on is pointless."""


@record(frozen=True)
class Ticket:
    started: float  # when the request was let through


class RateGate:
    def __init__(
        self,
        limit: int,
        *,
        patience: float = 600.0,
        max_wait: float = retry.MAX_RETRY_WAIT,  # the retry policy's (RetryPolicy.max_wait)
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.max_limit = limit
        self._limit = float(limit)
        self._active = 0
        self._paused_until = 0.0
        self._last_cut = float("-inf")
        self._strikes = 0  # rate limits in a row, for the backoff when no Retry-After
        self._patience = patience
        self._max_wait = max_wait
        self._clock = clock
        self._rand = rand
        self._last_progress = clock()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self.retries = 0  # every retry of every item, for the progress line
        self.pauses = 0

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def paused(self) -> bool:
        """A shared rate-limit pause is holding every worker back now."""
        return self._paused_until > self._clock()

    @property
    def in_flight(self) -> int:
        """Requests let through and not back yet: sent, or about to be."""
        with self._cond:
            return self._active

    def now(self) -> float:
        """The gate's clock, the one `Ticket.started` is on."""
        return self._clock()

    def acquire(self) -> Ticket:
        """Wait for a free slot outside any pause; raise Cancelled once the batch stops."""
        with self._cond:
            while True:
                if self._closed.is_set():
                    raise Cancelled()
                wait = self._paused_until - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                elif self._active >= int(self._limit):
                    self._cond.wait()
                else:
                    self._active += 1
                    return Ticket(self._clock())

    def release(self, ticket: Ticket, *, ok: bool) -> None:
        """The request is over; a success lets the limit grow again."""
        with self._cond:
            self._active -= 1
            if ok:
                self._limit = min(float(self.max_limit), self._limit + 1.0 / self._limit)
                self._strikes = 0
                self._last_progress = self._clock()
            self._cond.notify_all()

    def rate_limited(self, ticket: Ticket, retry_after: float | None) -> float:
        """A 429/503: pause everyone, cut the limit once per round; the pause in seconds."""
        with self._cond:
            self._active -= 1
            self.retries += 1
            now = self._clock()
            if now - self._last_progress > self._patience:
                self._cond.notify_all()
                raise Stalled()
            if ticket.started > self._last_cut:
                self._limit = max(1.0, self._limit / 2)
                self._last_cut = now
                self._strikes += 1
            if retry_after is None:
                delay = retry.backoff(self._strikes - 1, self._rand, self._max_wait)
            else:
                # A little jitter on top, so the whole pool does not fire at one instant.
                delay = min(self._max_wait, retry_after) * (1.0 + 0.1 * self._rand())
            if now + delay > self._paused_until:
                self._paused_until = now + delay
                self.pauses += 1
            self._cond.notify_all()
            return delay

    def sleep(self, seconds: float) -> None:
        """A per-item backoff (5xx, network) that a stop cuts short."""
        with self._cond:
            self.retries += 1
        if self._closed.wait(seconds):
            raise Cancelled()

    def close(self) -> None:
        """Stop letting requests through; those already sent run to their end."""
        with self._cond:
            self._closed.set()
            self._cond.notify_all()
