"""One adapter per API wire shape, and the neutral request they all take.

An adapter is a module with:
- `NAME` ("chat" or "responses") and `PATH` (below the base URL, e.g. "/chat/completions");
- `body(request: ChatRequest) -> dict`: the request body, every wire field name here;
- `payload(event: SSEEvent) -> Any`: the JSON (or `StreamEnd()`) one SSE event carries;
- the stream's events, one of:
  - `chunk_events(obj) -> list[Event]`: the events one streamed payload stands for, when
    a payload means the same whatever came before (Chat Completions: cheap per token);
  - `stream_parser() -> parser`: a fresh object per stream whose `chunk_events(obj)` does
    that, for a shape whose events depend on earlier ones (Responses: a call's arguments
    whole or in pieces, an item's end filling in what its deltas did not say). Its
    `body`, when a dict, is the whole reply object the stream ended with (`--json`).
  `Response` uses `stream_parser` when the module has one, else `chunk_events`;
- `body_events(obj) -> list[Event]`: the events a whole (unstreamed) body stands for.

Optional, asked by the client (api.client) when present:
- `unsent(request) -> dict[str, str]`: parameters the shape has no field for, left out of
  the body, each with the notice line that says so (said once a run);
- `refused_extras(message) -> frozenset[str]` and `plain_body(request, without) -> dict |
  None`: what the adapter adds on its own that a 400/422 names, and the body without it
  (None: nothing to leave out); the client asks once more without it, and remembers.

Nothing outside `api/` knows a wire field name: the rest of aimlchat builds a
`ChatRequest` from the neutral conversation (aimlchat.messages) and reads `api.events`.
Adapters load lazily (`load`): a plain `ask` on Chat Completions never imports Responses.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import field
from types import ModuleType
from typing import Any

from aimlchat.messages import Message
from aimlchat.record import record

CHAT, RESPONSES = "chat", "responses"
APIS = (CHAT, RESPONSES)
_MODULES = {
    CHAT: "aimlchat.api.adapters.chat_completions",
    RESPONSES: "aimlchat.api.adapters.responses",
}


@record(frozen=True)
class ToolSchema:
    """A tool offered to the model: its name, what it does, its JSON Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@record(frozen=True)
class OutputFormat:
    """--format json (`schema` None: any JSON object) or --schema FILE."""

    schema: Mapping[str, Any] | None = None
    name: str = "reply"
    strict: bool = True


@record(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    # By parameter-table name (settings.params); other keys (`-o`, `[body]`) are the
    # user's own body fields and are sent as they are.
    params: Mapping[str, Any] = field(default_factory=dict)
    format: OutputFormat | None = None
    tools: tuple[ToolSchema, ...] = ()
    stream: bool = True
    web_search: str | None = None  # low | medium | high
    # Sent as the X-Client-Request-Id header, never in the body (api.client sanitises it
    # and numbers a re-sent request's); None: the client makes one up.
    client_request_id: str | None = None


def load(name: str) -> ModuleType:
    """The adapter module for an API name ("chat" or "responses")."""
    return importlib.import_module(_MODULES[name])
