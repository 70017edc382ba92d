"""The MCP protocol over a transport: initialize, tools/list, tools/call.

Synchronous and one call at a time, as aimlchat's tool loop runs them. Every wait has a
deadline. A call that outlives its timeout is cancelled (`notifications/cancelled`) and
comes back as an error result for the model; a Ctrl-C (or SIGTERM, SIGHUP: any exception
while waiting) cancels it too and goes on up. A server that dies or breaks the protocol
raises ServerFailed naming it, with the last lines of its stderr where there are some.
A server that ends the session (HTTP 404: SessionExpired) before running a request gets
a new one, with a fresh initialize, and the request once more.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from aimlchat import __version__
from aimlchat.errors import redact
from aimlchat.record import record
from aimlchat.tools.mcp import jsonrpc
from aimlchat.tools.mcp.content import CallResult, from_result
from aimlchat.tools.mcp.errors import McpError, ServerFailed, SessionExpired

# Newest first: initialize offers the first; the server may answer any of these. Later
# revisions (2026-07-28) drop the initialize handshake and are not spoken here.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
START_TIMEOUT = 30.0  # initialize and tools/list
CALL_TIMEOUT = 120.0
MAX_PAGES = 100  # tools/list pages: a server that pages forever is not followed forever
TRACE_LIMIT = 2000  # characters of one message in the --debug trace


class Transport(Protocol):
    server: str

    def start(self) -> None: ...
    def send(self, msg: jsonrpc.Message) -> None: ...
    def receive(self, timeout: float) -> jsonrpc.Message | None: ...
    def negotiated(self, version: str) -> None: ...
    def abandon(self, ident: int) -> None: ...
    def tail(self) -> tuple[str, ...]: ...
    def close(self) -> None: ...


@record(frozen=True)
class McpTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    title: str | None = None
    annotations: dict[str, Any] | None = None  # hints (readOnlyHint…): the server's word only


class _TimedOut(Exception):
    pass


class _Refused(Exception):
    """The server answered a request with a JSON-RPC error."""


class _Expired(Exception):
    """The server ended the session instead of running the request: it may be sent again
    in a new session."""


class Session:
    def __init__(
        self,
        transport: Transport,
        *,
        start_timeout: float = START_TIMEOUT,
        trace: Callable[[str], None] | None = None,  # --debug: each message, both ways
    ) -> None:
        self.transport = transport
        self._trace = trace
        self.server = transport.server
        self.start_timeout = start_timeout
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        self._next_id = 0

    def open(self) -> None:
        """Start the transport and initialize; ServerFailed if that cannot be done."""
        self.transport.start()
        self._initialize()

    def _initialize(self) -> None:
        params = {
            "protocolVersion": PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "aimlchat", "version": __version__},
        }
        # The specification forbids cancelling initialize: a timeout just gives up.
        answer = self._ask("initialize", params, self.start_timeout, cancel=False, doing="starting")
        version = answer.get("protocolVersion")
        if version not in PROTOCOL_VERSIONS:
            raise ServerFailed(
                self.server,
                f"MCP server {self.server} speaks protocol version {version}, "
                f"which aimlchat does not (it speaks {', '.join(PROTOCOL_VERSIONS)})",
            )
        self.protocol_version = str(version)
        self.server_info = _dict(answer.get("serverInfo"))
        self.capabilities = _dict(answer.get("capabilities"))
        instructions = answer.get("instructions")
        self.instructions = instructions if isinstance(instructions, str) else None
        self.transport.negotiated(self.protocol_version)
        self._tell(jsonrpc.notification("notifications/initialized"), "after initialize")

    def list_tools(self) -> list[McpTool]:
        """Every tool, page after page; [] from a server that declares no tools."""
        if "tools" not in self.capabilities:
            return []
        tools: list[McpTool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = {"cursor": cursor} if cursor is not None else None
            page = self._ask("tools/list", params, self.start_timeout)
            items = page.get("tools")
            tools += [t for t in map(_tool, items if isinstance(items, list) else []) if t]
            following = page.get("nextCursor")
            if not isinstance(following, str) or not following or following == cursor:
                break
            cursor = following
        return tools

    def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout: float = CALL_TIMEOUT
    ) -> CallResult:
        """The call's result for the model: an error result when the tool failed
        (isError), the server refused the call (a JSON-RPC error: unknown tool, bad
        arguments) or it outlived `timeout` (then cancelled)."""
        params = {"name": name, "arguments": arguments}
        try:
            return from_result(self._ask("tools/call", params, timeout, doing=f"running {name}"))
        except _Refused as exc:
            return CallResult(str(exc), is_error=True)
        except _TimedOut:
            return CallResult(
                f"the tool {name} took longer than {timeout:g} s and was cancelled",
                is_error=True,
                timed_out=True,
            )

    def close(self) -> None:
        self.transport.close()

    def _ask(
        self,
        method: str,
        params: dict[str, Any] | None,
        timeout: float,
        *,
        cancel: bool = True,
        doing: str | None = None,
    ) -> dict[str, Any]:
        """Send a request and wait for its answer; serve what the server asks meanwhile.
        A session the server ended before it ran the request is begun anew, once."""
        doing = doing or f"answering {method}"
        try:
            return self._ask_once(method, params, timeout, cancel=cancel, doing=doing)
        except _Expired:
            if method == "initialize":
                raise ServerFailed(
                    self.server, f"MCP server {self.server} ended the session while starting"
                ) from None
        try:
            self._initialize()  # the transport forgot the old session's id
        except McpError as exc:
            # Without a session nothing more can be asked (a 429 here would otherwise pass
            # for a busy server and leave it sessionless): the server has failed.
            raise ServerFailed(
                self.server,
                f"MCP server {self.server} ended the session and could not begin a new one: "
                f"{exc.message}",
            ) from None
        try:
            return self._ask_once(method, params, timeout, cancel=cancel, doing=doing)
        except _Expired:
            raise ServerFailed(
                self.server,
                f"MCP server {self.server} ended the session again right after a new one began",
            ) from None

    def _ask_once(
        self,
        method: str,
        params: dict[str, Any] | None,
        timeout: float,
        *,
        cancel: bool,
        doing: str,
    ) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self._tell(jsonrpc.request(ident, method, params), doing)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    if not cancel:
                        raise ServerFailed(
                            self.server,
                            f"MCP server {self.server} did not answer {method} "
                            f"within {timeout:g} s",
                            tail=self.transport.tail(),
                        )
                    raise _TimedOut
                try:
                    msg = self._receive(left, doing)
                except SessionExpired as exc:
                    if exc.request != ident:
                        raise
                    raise _Expired from None
                if msg is None:
                    continue
                if jsonrpc.kind(msg) == "response" and msg.get("id") == ident:
                    return self._answer(msg, method)
                self._serve(msg, doing)
        except (McpError, _Refused, _Expired):  # nothing runs on the server to cancel
            raise
        except BaseException:  # our deadline, Ctrl-C, SIGTERM: the server must stop too
            if cancel:
                self._cancel(ident, method)
            raise

    def _answer(self, msg: jsonrpc.Message, method: str) -> dict[str, Any]:
        said = jsonrpc.error_text(msg)
        if said is not None:
            if method == "tools/call":
                raise _Refused(said)
            raise ServerFailed(self.server, f"MCP server {self.server} refused {method}: {said}")
        result = msg.get("result")
        if not isinstance(result, dict):
            raise ServerFailed(self.server, f"MCP server {self.server} answered {method} oddly")
        return result

    def _serve(self, msg: jsonrpc.Message, doing: str) -> None:
        """A server's own request gets an answer (ping: empty; anything else: we have no
        such capability); notifications (progress, logging) and stray responses are let go."""
        if jsonrpc.kind(msg) != "request":
            return
        if msg.get("method") == "ping":
            self._tell(jsonrpc.result(msg["id"], {}), doing)
        else:
            self._tell(jsonrpc.error(msg["id"], jsonrpc.METHOD_NOT_FOUND, "not supported"), doing)

    def _cancel(self, ident: int, method: str) -> None:
        """Tell the server to stop request `ident`; best effort, the caller is leaving."""
        note = jsonrpc.notification(
            "notifications/cancelled", {"requestId": ident, "reason": f"{method} cancelled"}
        )
        try:
            with contextlib.suppress(Exception):
                self._traced("->", note)
                self.transport.send(note)
        finally:
            # After the notice: over HTTP, hanging up the answer's stream first can leave
            # the server's handler running, deaf to a cancellation that then finds no
            # stream to end.
            self.transport.abandon(ident)

    def _tell(self, msg: jsonrpc.Message, doing: str) -> None:
        self._traced("->", msg)
        try:
            self.transport.send(msg)
        except McpError:
            raise
        except Exception as exc:
            raise self._gone(exc, doing) from None

    def _receive(self, timeout: float, doing: str) -> jsonrpc.Message | None:
        try:
            msg = self.transport.receive(timeout)
        except McpError:
            raise
        except Exception as exc:  # the transport's "no more messages" (stdio: Gone)
            raise self._gone(exc, doing) from None
        if msg is not None:
            self._traced("<-", msg)
        return msg

    def _traced(self, way: str, msg: jsonrpc.Message) -> None:
        if self._trace is None:
            return
        text = json.dumps(msg, ensure_ascii=False)
        if len(text) > TRACE_LIMIT:  # redacted before the cut: a key cut in two is a key
            text = f"{redact.cut(text[:TRACE_LIMIT])}… ({len(text):,} characters)"
        self._trace(f"MCP {self.server} {way} {text}")

    def _gone(self, exc: Exception, doing: str) -> ServerFailed:
        tail = self.transport.tail()
        said = f"; its stderr ends: {' | '.join(tail)}" if tail else ""
        return ServerFailed(
            self.server, f"MCP server {self.server} {exc} while {doing}{said}", tail=tail
        )


def _tool(item: Any) -> McpTool | None:
    """A tools/list entry, or None for one without a usable name."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        return None
    schema = item.get("inputSchema")
    title = item.get("title")
    return McpTool(
        name=item["name"],
        description=str(item.get("description") or ""),
        input_schema=schema if isinstance(schema, dict) else {"type": "object"},
        title=title if isinstance(title, str) else None,
        annotations=item["annotations"] if isinstance(item.get("annotations"), dict) else None,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
