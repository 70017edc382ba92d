"""Messages a transport's reader hands to the session, waited on with a timeout.

A reader thread (stdio's stdout, an HTTP answer being read) puts messages in, and, when no
more can come, the exception saying why; the session takes them out with a timeout, so
no read ever waits longer than the caller allows, and a Ctrl-C is seen within a slice.
"""

from __future__ import annotations

import queue
import time

from aimlchat.tools.mcp.jsonrpc import Message

SLICE = 0.2  # seconds: how often a wait wakes up, so signals are handled promptly


class Passing:
    """An Inbox item: one request failed (a 429, a session the server forgot), and more
    messages may come; an exception put in the Inbox itself means none will."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class Inbox:
    def __init__(self) -> None:
        self._queue: queue.Queue[Message | BaseException | Passing] = queue.Queue()
        self._ended: BaseException | None = None

    def put(self, item: Message | BaseException | Passing) -> None:
        self._queue.put(item)

    def get(self, timeout: float) -> Message | None:
        """The next message; None when none came within `timeout`. Raises the exception a
        reader left, now and on every later call (a dead server stays dead); a Passing
        error once."""
        if self._ended is not None:
            raise self._ended
        end = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                item = self._queue.get(timeout=min(SLICE, max(0.0, end - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= end:
                    return None
                continue
            if isinstance(item, Passing):
                raise item.error
            if isinstance(item, BaseException):
                self._ended = item
                raise item
            return item
