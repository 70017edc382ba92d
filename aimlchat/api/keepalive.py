"""When a kept-alive connection has been quiet too long to carry a request that cannot be
sent twice.

A chat request is never sent again once the server may have it (api.retry), so it must not
go out on a connection that is about to die. Before reusing a pooled connection urllib3
checks that the server has not closed it, but that check misses two cases, and both end
as "may have been billed — not retried":

- the server's keep-alive timer runs out as our request is on its way: the server closes,
  and the request is answered with a reset;
- a NAT or load balancer forgot the connection without telling either side: the request
  vanishes, and we wait for the read timeout.

So a request after more than `FRESH_AFTER` seconds of quiet goes on a fresh connection.
4 s is under the 5 s keep-alive timeout that is common on servers (Apache httpd,
Node.js, uvicorn), with a second to spare for the close to reach us, and far under the
idle timeouts of NATs and load balancers (a minute and more). A server with a shorter
timeout has closed long before 4 s, and urllib3's check sees that close. The cost, one
handshake for a request after a pause, is small beside a model's answer; requests in
quick succession (a tool loop, batch) keep their connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FRESH_AFTER = 4.0


class QuietTimer:
    """Time since the last answer on the API's connections was read to its end.

    The server starts its keep-alive timer when it has sent an answer, so quiet time is
    counted from the end of the last answer, not from the start of its request."""

    def __init__(
        self, limit: float = FRESH_AFTER, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._since: float | None = None  # None: no connection kept from an earlier answer

    def answered(self) -> None:
        """An answer has been read or abandoned: its connection is back in the pool."""
        self._since = self._clock()

    def quiet(self) -> float:
        return 0.0 if self._since is None else self._clock() - self._since

    def too_quiet(self) -> bool:
        """Whether the pooled connections are too old to trust (then forget them)."""
        if self._since is None or self.quiet() <= self.limit:
            return False
        self._since = None
        return True
