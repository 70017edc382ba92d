"""An MCP server over Streamable HTTP: each message POSTed, answers as JSON or SSE.

A request's answer is read by a thread into the Inbox (as JSON, or as an SSE stream that
may carry the server's own requests and notifications before the response), so the
session waits on it with its own timeout and can send `notifications/cancelled` in a
second POST meanwhile. A server may close that stream before the response once it has
sent an event id (MCP 2025-11-25): the reader then resumes it with a GET carrying
`Last-Event-ID`; a stream that ends without the response and cannot be resumed fails
the request at once, not at the session's timeout.

The `Mcp-Session-Id` the server gives at initialize goes with every later message,
`MCP-Protocol-Version` once negotiated, and the session is DELETEd at the end. A 404 to
a message carrying the session id means the session is over: the session starts a new
one (SessionExpired). A 401 or 403 names the server: its headers in config.toml are the
cause. Redirects are never followed: the headers may hold a key, and requests re-sends
all but Authorization to wherever it is sent, even from https to http.

On the way out (a cancellation, the DELETE) every wait is short and bounded in total: a
hung server must not hold aimlchat's exit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aimlchat.inflate import Inflater
from aimlchat.tools.mcp import jsonrpc
from aimlchat.tools.mcp.config import shown_url, unkeyed
from aimlchat.tools.mcp.errors import (
    McpError,
    ServerFailed,
    ServerRateLimited,
    ServerRefused,
    ServerUnreachable,
    SessionExpired,
)
from aimlchat.tools.mcp.inbox import Inbox, Passing
from aimlchat.tools.mcp.sse import StreamState

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT = 10.0
SEND_TIMEOUT = 30.0  # a notification or our answer to the server: only a 202 comes back
QUICK_TIMEOUT = (2.0, 2.0)  # connect, read: a cancellation, the DELETE
QUICK_TOTAL = 3.0  # and no more than this in all (a server may trickle its headers)
RESUMES = 5  # resumptions in a row that bring nothing new before giving up
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
        # Requests whose answers are being read: id -> the response being read, if any.
        self._open: dict[Any, requests.Response | None] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self) -> None:
        import requests

        self._http = requests.Session()

    def send(self, msg: jsonrpc.Message) -> None:
        """POST `msg`. A request's answer arrives in the Inbox; anything else must be
        accepted (202) before this returns. A cancellation is best effort and quick."""
        if jsonrpc.kind(msg) == "request":
            with self._lock:  # before the thread runs: abandon() may come first
                self._open[msg["id"]] = None
            reader = threading.Thread(
                target=self._exchange, args=(msg,), name=f"mcp-{self.server}", daemon=True
            )
            reader.start()
            return
        if msg.get("method") == "notifications/cancelled":
            _within(QUICK_TOTAL, lambda: self._post(msg, timeout=QUICK_TIMEOUT).close())
            return
        self._post(msg, timeout=(CONNECT_TIMEOUT, SEND_TIMEOUT)).close()

    def receive(self, timeout: float) -> jsonrpc.Message | None:
        try:
            return self.inbox.get(timeout)
        except SessionExpired:
            # The session is over: the next message starts a new one, without its id.
            self.session_id = None
            self.protocol_version = None
            raise

    def negotiated(self, version: str) -> None:
        self.protocol_version = version

    def tail(self) -> tuple[str, ...]:
        return ()

    def close(self) -> None:
        """DELETE the session (a server may answer 405: it keeps none), then hang up;
        within QUICK_TOTAL whatever the server does."""
        self._closing.set()
        http, self._http = self._http, None
        if http is None:
            return
        try:
            if self.session_id is not None:
                headers = self._headers()
                _within(
                    QUICK_TOTAL,
                    lambda: http.delete(
                        self.url, headers=headers, timeout=QUICK_TIMEOUT, allow_redirects=False
                    ).close(),
                )
        finally:
            http.close()

    def abandon(self, ident: int) -> None:
        """The session stopped waiting for request `ident` (cancelled): stop reading its
        answer, and let nothing that still comes of it reach the Inbox."""
        with self._lock:
            resp = self._open.pop(ident, None)
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.close()

    # Requests

    def _headers(self, accept: str = "application/json, text/event-stream") -> dict[str, str]:
        headers = {**self.headers, "Accept": accept}
        if accept != "text/event-stream":
            headers["Content-Type"] = "application/json"
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    def _request(
        self,
        method: str,
        headers: dict[str, str],
        timeout: tuple[float, float],
        data: bytes | None = None,
    ) -> requests.Response:
        """One HTTP exchange with the server, redirects not followed (a 3xx is an error);
        the response is streamed: its body is the caller's to read and close."""
        import requests

        http = self._http
        if http is None:
            raise ServerFailed(self.server, f"MCP server {self.server} is closed")
        try:
            resp = http.request(
                method,
                self.url,
                data=data,
                headers=headers,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._unanswered(exc, timeout[0]) from None
        if 300 <= resp.status_code < 400:
            raise self._redirected(resp)
        return resp

    def _post(self, msg: jsonrpc.Message, *, timeout: tuple[float, float]) -> requests.Response:
        headers = self._headers()
        resp = self._request("POST", headers, timeout, data=jsonrpc.encode(msg))
        if resp.status_code >= 400:
            raise self._refusal(resp, "Mcp-Session-Id" in headers, msg.get("id"))
        if self.session_id is None and resp.headers.get("Mcp-Session-Id"):
            self.session_id = resp.headers["Mcp-Session-Id"]
        return resp

    def _resume(self, last_id: str) -> requests.Response:
        """GET the rest of a stream from after event `last_id`."""
        headers = {**self._headers("text/event-stream"), "Last-Event-ID": last_id}
        resp = self._request("GET", headers, (CONNECT_TIMEOUT, self.read_timeout))
        status = resp.status_code
        if status in (401, 403):
            raise self._refusal(resp, True, None)
        if status >= 400 or _content_type(resp) != "text/event-stream":
            resp.close()
            said = f"HTTP {status}" if status >= 400 else "no event stream"
            raise ServerFailed(
                self.server,
                f"MCP server {self.server} closed the answer's stream before the answer, "
                f"and did not resume it ({said})",
            )
        return resp

    def _unanswered(self, exc: requests.RequestException, connect: float) -> ServerFailed:
        """Why a request got no answer at all: no connection was made (ServerUnreachable,
        a network matter), or one was and the server said nothing on it."""
        import requests

        where = shown_url(self.url)
        if _unconnected(exc):
            if isinstance(exc, requests.exceptions.ConnectTimeout):
                why = f"no connection within {connect:g} s"
            elif isinstance(exc, requests.exceptions.SSLError):
                why = f"TLS failed: {_why(exc)}"
            else:
                why = _why(exc)
            return ServerUnreachable(
                self.server,
                f"MCP server {self.server}: cannot reach {where}: {unkeyed(why, self.url)}",
            )
        if isinstance(exc, requests.Timeout):
            return ServerFailed(
                self.server, f"MCP server {self.server} at {where} did not answer in time"
            )
        if isinstance(exc, requests.ConnectionError):  # reset, or closed before a status line
            return ServerFailed(
                self.server,
                f"MCP server {self.server} at {where} closed the connection without answering "
                "(did it stop?)",
            )
        why = unkeyed(_why(exc), self.url)
        return ServerFailed(self.server, f"MCP server {self.server}: cannot reach {where}: {why}")

    def _redirected(self, resp: requests.Response) -> ServerFailed:
        from urllib.parse import urljoin

        resp.close()
        location = resp.headers.get("Location")
        where = f"to {shown_url(urljoin(self.url, location))}" if location else "elsewhere"
        return ServerFailed(
            self.server,
            f"MCP server {self.server} at {shown_url(self.url)} redirects {where} "
            f"(HTTP {resp.status_code}); aimlchat does not follow redirects, "
            "which would send its headers there",
            hint=f"put the final URL in [mcp.{self.server}] url in config.toml",
        )

    def _refusal(self, resp: requests.Response, in_session: bool, request: int | None) -> McpError:
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
        if status == 404 and in_session:
            message = f"MCP server {self.server} ended the session"
            return SessionExpired(self.server, message, request=request)
        if status == 429:
            from aimlchat.api.retry import retry_after

            wait = retry_after(resp.headers.get("Retry-After"))
            asks = f"; it asks to wait {_seconds(wait)}" if wait is not None else ""
            return ServerRateLimited(
                self.server,
                f"MCP server {self.server} is rate-limiting requests (HTTP 429){asks}",
                retry_after=wait,
            )
        said = " ".join(body.decode("utf-8", "replace").split())
        return ServerFailed(
            self.server,
            f"MCP server {self.server} answered HTTP {status}" + (f": {said}" if said else ""),
        )

    # The reader thread of one request

    def _exchange(self, msg: jsonrpc.Message) -> None:
        """A request's answer, message by message, to the Inbox. A failure goes there
        too, for the session to raise, unless the request was abandoned."""
        ident = msg["id"]
        try:
            resp = self._post(msg, timeout=(CONNECT_TIMEOUT, self.read_timeout))
            if not self._reading(ident, resp):
                return
            if _content_type(resp) == "text/event-stream":
                self._follow(resp, ident)
                return
            with resp:
                body = resp.raw.read(MAX_JSON + 1, decode_content=True) or b""
            if len(body) > MAX_JSON:
                raise ValueError(f"an answer over {MAX_JSON >> 20} MiB")
            try:
                self._deliver(body, ident)
            except ValueError:
                kind = _content_type(resp)
                if kind in ("application/json", "") or kind.endswith("+json"):
                    raise
                raise ServerFailed(  # a web page, most often: the URL is not the endpoint
                    self.server,
                    f"MCP server {self.server} answered with {kind}, not JSON or an event stream",
                    hint=f"check url in [mcp.{self.server}] in config.toml: "
                    "it must be the server's MCP endpoint",
                ) from None
        except (SessionExpired, ServerRateLimited) as exc:
            if ident in self._open:  # this request's failure: the server goes on
                self.inbox.put(Passing(exc))
        except McpError as exc:
            if ident in self._open:
                self.inbox.put(exc)
        except Exception as exc:  # a broken body or a bad message: the session must hear of it
            if ident in self._open:
                said = _why(exc)
                what = said if said.startswith(_WORDS) else f"bad answer: {said}"
                self.inbox.put(ServerFailed(self.server, f"MCP server {self.server}: {what}"))
        finally:
            with self._lock:
                self._open.pop(ident, None)

    def _reading(self, ident: int, resp: requests.Response) -> bool:
        """Note `resp` as what request `ident`'s answer is read from, so abandon() can
        close it; False (and `resp` closed) when the request was abandoned already."""
        with self._lock:
            if ident in self._open:
                self._open[ident] = resp
                return True
        resp.close()
        return False

    def _follow(self, resp: requests.Response, ident: int) -> None:
        """Read the answer's stream to its end, resuming it while the response is owed."""
        state = StreamState()
        idle = 0
        while True:
            answered, progressed, broken = self._read_stream(resp, ident, state)
            if answered or ident not in self._open:
                return
            if state.last_id is None:
                if broken is not None:
                    raise broken
                raise ServerFailed(
                    self.server,
                    f"MCP server {self.server} closed the answer's stream before the answer",
                )
            idle = 0 if progressed else idle + 1
            if idle >= RESUMES:
                raise ServerFailed(
                    self.server,
                    f"MCP server {self.server} closed the answer's stream before the answer "
                    f"{RESUMES} times in a row without sending anything new",
                )
            if self._closing.wait(state.retry) or ident not in self._open:
                return
            resp = self._resume(state.last_id)
            if not self._reading(ident, resp):
                return

    def _read_stream(
        self, resp: requests.Response, ident: int, state: StreamState
    ) -> tuple[bool, bool, Exception | None]:
        """One connection's events to the Inbox: (the response came, anything new came,
        why the connection broke if it did rather than end)."""
        import urllib3

        decoder = state.decoder()
        inflater = Inflater.for_header(resp.headers.get("Content-Encoding"))
        answered = progressed = False
        seen = state.last_id
        broken: Exception | None = None
        with resp:
            while True:
                try:
                    chunk = resp.raw.read1(_READ)
                except (OSError, urllib3.exceptions.HTTPError) as exc:
                    broken = exc
                    chunk = b""
                events = decoder.feed(inflater.feed(chunk) if inflater else chunk)
                if not chunk:
                    events += decoder.finish()
                for event in events:
                    if self._deliver(event.data, ident):
                        answered = True
                    progressed = progressed or bool(event.data.strip())
                if not chunk:
                    break
        return answered, progressed or state.last_id != seen, broken

    def _deliver(self, data: bytes | str, ident: int) -> bool:
        """Put the messages of `data` in the Inbox; True when one is request `ident`'s
        response."""
        if not data.strip() or ident not in self._open:
            return False  # a priming event (an id to resume from, no message), or abandoned
        answered = False
        for item in jsonrpc.decode(data):
            answered = answered or (jsonrpc.kind(item) == "response" and item.get("id") == ident)
            self.inbox.put(item)
        return answered


def _within(seconds: float, job: Callable[[], object]) -> None:
    """Run `job` for at most `seconds`, best effort: what it raises is let go, and a job
    still running then is left to its daemon thread."""

    def run() -> None:
        with contextlib.suppress(Exception):
            job()

    worker = threading.Thread(target=run, name="mcp-quick", daemon=True)
    worker.start()
    worker.join(seconds)


def _unconnected(exc: BaseException) -> bool:
    """Whether no connection was made: refused, a name that does not resolve, no answer
    to connect, TLS failed (as api.transport tells the same of the API's requests)."""
    import requests
    import urllib3

    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the cause
    # NewConnectionError (refused, DNS: NameResolutionError) subclasses ConnectTimeoutError.
    return isinstance(cause, urllib3.exceptions.ConnectTimeoutError)


def _seconds(wait: float) -> str:
    return f"{wait:.0f} s" if wait >= 1 else "a moment"


def _content_type(resp: requests.Response) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


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
