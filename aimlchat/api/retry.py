"""The one retry policy of `ask`, `chat` and `batch`: what may be sent again, and when.

A chat request is paid for once the server has it, and nothing on our side can tell
whether a model started on a request whose answer never came. So a POST is sent again
only when the server cannot have received it, or when it answered that it did not do
the work:

- the connection was never made: refused, DNS, connect timeout (`NetworkError.unsent`);
- 408, 409, 429 and 5xx answers, after the server's Retry-After or a jittered backoff.

Everything else is final, on purpose: a read timeout after the request went out, and a
connection reset or closed before the first byte of an answer. requests cannot say how
much of the request had been written when a connection broke, and a server that read it
all may have started (and billed) the reply, so "may have been sent" counts as sent.
That is why a request after a quiet spell does not go on a kept-alive connection the
server or a NAT may have closed meanwhile (api.keepalive): on a fresh one, a failure to
connect is known unsent. An idempotent request (GET /models, a page for `-f URL`) may
be sent again after any network failure. `batch` adds one thing on top, in its gate: a
429 or 503 pauses every worker, since a rate limit belongs to the key, not to the item.

One exception, in the client: a streamed request answered 200 with no event at all (not
even `[DONE]`; llama.cpp's Python server when the prompt overflows its window) is sent
once more without streaming, to learn why. The server answered and produced no reply, so
no reply tokens can be billed twice; a server that bills prompts may bill the prompt
again. Once only: an empty unstreamed answer is an error, never a third send.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import field

from aimlchat.errors import AimlchatError, ApiError, NetworkError
from aimlchat.record import record

TRY_AGAIN = frozenset({408, 409, 429})  # and every 5xx
SHARED = frozenset({429, 503})  # about the key or the service, not one request
MAX_RETRY_WAIT = 60.0  # a longer Retry-After is reported, not waited for
BACKOFF_BASE = 0.5


def backoff(
    attempt: int, rand: Callable[[], float] = random.random, cap: float = MAX_RETRY_WAIT
) -> float:
    """Exponential with jitter, so that many clients (or workers) do not retry in step."""
    return min(cap, BACKOFF_BASE * (2.0 ** min(attempt, 16)) * (0.75 + rand() * 0.5))


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent
    or invalid. A negative, NaN or infinite delay is a server bug, not "now": taken as
    absent, it gets the normal backoff rather than an instant retry."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0.0 <= seconds < math.inf else None  # NaN fails both
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def try_again_status(status: int | None) -> bool:
    return status is not None and (status in TRY_AGAIN or 500 <= status <= 599)


@record(frozen=True)
class RetryPolicy:
    retries: int  # sends after the first
    max_wait: float = MAX_RETRY_WAIT
    rand: Callable[[], float] = field(default=random.random, compare=False)

    @staticmethod
    def retryable(error: AimlchatError, *, idempotent: bool = False) -> bool:
        """Whether sending again is safe and may help, whatever the attempt count."""
        if isinstance(error, NetworkError):
            return (error.unsent or idempotent) and not error.lasting
        return isinstance(error, ApiError) and try_again_status(error.status)

    @staticmethod
    def shared(error: AimlchatError) -> bool:
        """A 429 or 503: the key or the service is saturated (batch pauses every worker)."""
        return isinstance(error, ApiError) and error.status in SHARED

    def delay(
        self, attempt: int, error: AimlchatError, *, idempotent: bool = False
    ) -> float | None:
        """Seconds to wait before sending again after failed send number `attempt` (0 is
        the first), or None: give up and report `error`."""
        if attempt >= self.retries or not self.retryable(error, idempotent=idempotent):
            return None
        wait = getattr(error, "retry_after", None)
        if wait is None:
            return backoff(attempt, self.rand, self.max_wait)
        return wait if wait <= self.max_wait else None

    def too_long(self, error: AimlchatError) -> float | None:
        """The server's Retry-After when it is longer than this policy waits, else None."""
        wait = getattr(error, "retry_after", None)
        return wait if wait is not None and wait > self.max_wait else None
