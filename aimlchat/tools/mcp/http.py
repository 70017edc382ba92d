"""An MCP server over Streamable HTTP: each message POSTed, answers as JSON or SSE.

A request's answer is read by a thread into the Inbox (as JSON, or as an SSE stream that
may carry the server's own requests and notifications before the response), so the
session waits on it with its own timeout and can send `notifications/cancelled` in a
second POST meanwhile. The `Mcp-Session-Id` the server gives at initialize goes with
every later message, `MCP-Protocol-Version` once negotiated, and the session is DELETEd
at the end. A 401 or 403 names the server: its headers in config.toml are the cause.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aimlchat.api.inflate import Inflater
from aimlchat.api.sse import SSEDecoder
from aimlchat.tools.mcp import jsonrpc
from aimlchat.tools.mcp.config import shown_url, unkeyed
from aimlchat.tools.mcp.errors import McpError, ServerFailed, ServerRefused
from aimlchat.tools.mcp.inbox import Inbox

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 10.0
SEND_TIMEOUT = 30.0  # a notification or our answer to the server: only a 202 comes back
CLOSE_TIMEOUT = 5.0
MAX_JSON = 32 * 1024 * 1024
_ERROR_BODY = 300
_READ = 65536


class HttpTransport:
    def __init__(
        self,
        server: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        read_timeout: float = 300.0,
    ) -> None:
        self.server = server
        self.url = url
        self.headers = dict(headers or {})
        # The longest silence a reader thread bears; the session's own timeouts are
        # shorter and act first. This only bounds a thread left behind.
        self.read_timeout = read_timeout
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.inbox = Inbox()
        self._http: requests.Session | None = None
        # Requests whose answers are being read: id -> the answer once it began.
        self._open: dict[Any, requests.Response | None] = {}

    def start(self) -> None:
        import requests

        self._http = requests.Session()

    def send(self, msg: jsonrpc.Message) -> None:
        """POST `msg`. A request's answer arrives in the Inbox; anything else must be
        accepted (202) before this returns."""
        if jsonrpc.kind(msg) == "request":
            self._open[msg["id"]] = None  # before the thread runs: abandon() may come first
            reader = threading.Thread(
                target=self._exchange, args=(msg,), name=f"mcp-{self.server}", daemon=True
            )
            reader.start()
            return
        resp = self._post(msg, read_timeout=SEND_TIMEOUT)
        resp.close()

    def receive(self, timeout: float) -> jsonrpc.Message | None:
        return self.inbox.get(timeout)

    def negotiated(self, version: str) -> None:
        self.protocol_version = version

    def tail(self) -> tuple[str, ...]:
        return ()

    def close(self) -> None:
        """DELETE the session (a server may answer 405: it keeps none), then hang up."""
        http, self._http = self._http, None
        if http is None:
            return
        try:
            if self.session_id is not None:
                with contextlib.suppress(Exception):
                    http.delete(
                        self.url,
                        headers=self._headers(),
                        timeout=(CONNECT_TIMEOUT, CLOSE_TIMEOUT),
                    ).close()
        finally:
            http.close()

    def _headers(self) -> dict[str, str]:
        headers = {
            **self.headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _post(self, msg: jsonrpc.Message, *, read_timeout: float) -> requests.Response:
        import requests

        http = self._http
        if http is None:
            raise ServerFailed(self.server, f"MCP server {self.server} is closed")
        try:
            resp = http.post(
                self.url,
                data=jsonrpc.encode(msg),
                headers=self._headers(),
                timeout=(CONNECT_TIMEOUT, read_timeout),
                stream=True,
            )
        except requests.Timeout:
            where = shown_url(self.url)
            raise ServerFailed(
                self.server, f"MCP server {self.server} at {where} did not answer in time"
            ) from None
        except requests.RequestException as exc:
            why = unkeyed(_why(exc), self.url)
            raise ServerFailed(
                self.server, f"MCP server {self.server}: cannot reach {shown_url(self.url)}: {why}"
            ) from None
        if resp.status_code >= 400:
            raise self._refusal(resp)
        if self.session_id is None and resp.headers.get("Mcp-Session-Id"):
            self.session_id = resp.headers["Mcp-Session-Id"]
        return resp

    def _refusal(self, resp: requests.Response) -> McpError:
        status = resp.status_code
        try:
            body = resp.raw.read(_ERROR_BODY, decode_content=True) or b""
        except Exception:
            body = b""
        resp.close()
        if status in (401, 403):
            return ServerRefused(
                self.server,
                f"MCP server {self.server} refused the credentials (HTTP {status})",
                hint=f"check the headers of [mcp.{self.server}] in config.toml",
            )
        if status == 404 and self.session_id is not None:
            return ServerFailed(self.server, f"MCP server {self.server} ended the session")
        said = " ".join(body.decode("utf-8", "replace").split())
        return ServerFailed(
            self.server,
            f"MCP server {self.server} answered HTTP {status}" + (f": {said}" if said else ""),
        )

    def abandon(self, ident: int) -> None:
        """The session stopped waiting for request `ident` (cancelled): stop reading its
        answer, and let nothing that still comes of it reach the Inbox."""
        resp = self._open.pop(ident, None)
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.close()

    def _exchange(self, msg: jsonrpc.Message) -> None:
        """The reader thread of one request: its answer, message by message, to the Inbox.
        A failure goes there too, for the session to raise, unless it was abandoned."""
        ident = msg["id"]
        try:
            resp = self._post(msg, read_timeout=self.read_timeout)
            with resp:
                if ident not in self._open:
                    return
                self._open[ident] = resp
                kind = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if kind == "text/event-stream":
                    self._read_sse(resp, ident)
                else:
                    body = resp.raw.read(MAX_JSON + 1, decode_content=True) or b""
                    if len(body) > MAX_JSON:
                        raise ValueError(f"an answer over {MAX_JSON >> 20} MiB")
                    self._deliver(body, ident)
        except McpError as exc:
            if ident in self._open:
                self.inbox.put(exc)
        except Exception as exc:  # a broken stream or body: the session must hear of it
            if ident in self._open:
                said = _why(exc)
                what = said if said.startswith(_WORDS) else f"bad answer: {said}"
                why = f"MCP server {self.server}: {what}"
                self.inbox.put(ServerFailed(self.server, why))
        finally:
            self._open.pop(ident, None)

    def _read_sse(self, resp: requests.Response, ident: int) -> None:
        decoder = SSEDecoder()
        inflater = Inflater.for_header(resp.headers.get("Content-Encoding"))
        while chunk := resp.raw.read1(_READ):
            for event in decoder.feed(inflater.feed(chunk) if inflater else chunk):
                self._deliver(event.data, ident)
        for event in decoder.finish():
            self._deliver(event.data, ident)

    def _deliver(self, data: bytes | str, ident: int) -> None:
        if not data.strip() or ident not in self._open:
            return  # a priming event (an id to resume from, no message), or abandoned
        for item in jsonrpc.decode(data):
            self.inbox.put(item)


_REFUSED = ("Connection refused", "ConnectionRefusedError")
_UNRESOLVED = ("Name or service not known", "nodename nor servname", "NameResolutionError")
_BROKEN = ("Connection broken", "IncompleteRead", "Connection aborted", "RemoteDisconnected")
_WORDS = ("connection refused", "cannot resolve", "the connection broke")  # _why's own


def _why(exc: BaseException) -> str:
    """What went wrong, in words, not requests' nested repr of urllib3's exceptions."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(s in text for s in _REFUSED):
        return "connection refused (is it running?)"
    if any(s in text for s in _UNRESOLVED):
        return "cannot resolve its host name"
    if any(s in text for s in _BROKEN):
        return "the connection broke before the answer ended (did it stop?)"
    return text[:200]
