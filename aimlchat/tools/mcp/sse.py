"""An answer's SSE stream as MCP resumes it: events, plus the last event id and `retry:`.

A Streamable HTTP server may close a request's stream early (MCP 2025-11-25, SEP-1699)
after an event with an `id` (a priming event, often with empty data), and tell the client
how long to wait (`retry:`, in milliseconds) before it reconnects with a GET carrying
`Last-Event-ID`. aimlchat.sse ignores both fields (a model's reply is never resumed);
this decoder keeps them, across the connections of one stream.
"""

from __future__ import annotations

from aimlchat.sse import SSEDecoder, SSEEvent

DEFAULT_RETRY = 1.0  # seconds before a reconnection when the server said nothing
MAX_RETRY = 5.0  # a server cannot make aimlchat wait longer than this to reconnect


class StreamState:
    """What survives a reconnection: the last event id and the server's retry delay."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry: float = DEFAULT_RETRY

    def decoder(self) -> ResumableDecoder:
        """A decoder for one connection of the stream (a new one starts with no partial
        line), recording ids and retry delays here."""
        return ResumableDecoder(self)


class ResumableDecoder(SSEDecoder):
    def __init__(self, state: StreamState) -> None:
        # An event the stream's end cut off is not dispatched: a resumed stream sends it
        # again, whole, after the last complete event's id.
        super().__init__(unfinished=False)
        self.state = state
        self._pending_id = state.last_id

    def _line(self, line: str) -> SSEEvent | None:
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if line == "":
            # An event's id counts once the event is complete, data or none (a priming
            # event): a stream cut inside an event is resumed before that event.
            self.state.last_id = self._pending_id
        elif name == "id" and "\0" not in value:
            self._pending_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            self.state.retry = min(int(value) / 1000, MAX_RETRY)
        return super()._line(line)
