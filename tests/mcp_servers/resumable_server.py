"""An official-SDK server over Streamable HTTP that closes an answer's stream mid-call
(SEP-1699 polling): with an event store, it primes each stream with an event id and a
`retry:`, and its `poll` tool closes the stream before answering, so the client must
resume it with a GET carrying `Last-Event-ID`. Run as `resumable_server.py PORT`.
"""

from __future__ import annotations

import sys
from itertools import count
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore

server = MCPServer("test-resumable")


class MemoryEventStore(EventStore):
    """Every event of every stream, in order, replayed after the id a client names."""

    def __init__(self) -> None:
        self._ids = count(1)
        self._events: list[tuple[str, str, Any]] = []  # (event id, stream id, message)

    async def store_event(self, stream_id: str, message: Any) -> str:
        event_id = str(next(self._ids))
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: str, send_callback: EventCallback
    ) -> str | None:
        found = [i for i, event in enumerate(self._events) if event[0] == last_event_id]
        if not found:
            return None
        stream = self._events[found[0]][1]
        for event_id, stream_id, message in self._events[found[0] + 1 :]:
            if stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


@server.tool()
async def poll(ctx: Context) -> str:
    """Close the answer's stream, work a little longer, then answer."""
    await ctx.info("working")
    await ctx.close_sse_stream()
    await anyio.sleep(0.3)
    return "done after the stream closed"


def main(port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(event_store=MemoryEventStore(), retry_interval=50)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
