"""HTTP to the API: sending (the one retry policy, three timeouts, a fresh connection
after a quiet spell), reading the answer, turning failures into errors, the debug log.
The only importer of requests and urllib3 in aimlchat.api (tools.mcp.http has its own
for MCP servers); it knows no wire field name and no API endpoint.

A stream is read with urllib3's `read1`, which returns whatever the socket has, because
requests' `iter_content`/`iter_lines` wait for a full chunk size (or, on a body that ends
when the server closes the socket, for the whole body). `read1` does not undo a
Content-Encoding, so a gzipped stream (a proxy that ignores `Accept-Encoding: identity`)
is inflated here, chunk by chunk, as it arrives.

A `Transport` belongs to one thread: requests does not promise that a `Session` may be
shared, so the batch workers build a client each (batch.request keeps it thread-local),
and each keeps its own connection alive from one request to the next.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3.exceptions

from aimlchat import __version__
from aimlchat.api.errors_http import http_error, network_error, unsendable_error
from aimlchat.api.keepalive import FRESH_AFTER, QuietTimer
from aimlchat.api.retry import RetryPolicy, retry_after
from aimlchat.errors import AimlchatError, ApiError, NetworkError, redact
from aimlchat.inflate import Inflater
from aimlchat.sse import SSEDecoder, SSEEvent

READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536
DEBUG_BODY_LIMIT = 2000
# Refused while the request is prepared, before a byte leaves: a usage or config error,
# never a network one. Named one by one: on a money path, no other ValueError may pass
# for "nothing was sent".
UNSENDABLE = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidJSONError,
    UnicodeEncodeError,
)
BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)

Log = Callable[[str], None]
Answer = requests.Response  # what `send` and `get_elsewhere` return, for their callers' types


def _unsent(exc: requests.RequestException) -> bool:
    """Whether the request certainly never left: no connection was made.

    Anything later (a reset while sending, a close before the answer, a read timeout)
    may have reached the server, and a paid request that may have arrived is not sent
    again: requests cannot tell how much of the request was written (see api.retry)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # but a refused certificate is unsent: errors_http.network_error
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the cause
    # NewConnectionError (refused, DNS: NameResolutionError) subclasses ConnectTimeoutError.
    return isinstance(cause, urllib3.exceptions.ConnectTimeoutError)


def _set_read_timeout(resp: requests.Response, seconds: float) -> None:
    """From now on, the longest silence while the body is read (the idle timeout).

    requests has one read timeout for the wait for the answer and for every read after
    it; the socket under the response takes a new one once the headers are in."""
    sock: Any = getattr(getattr(resp.raw, "connection", None), "sock", None)
    with contextlib.suppress(AttributeError, OSError):  # no socket: keep the one timeout
        sock.settimeout(seconds)


class Transport:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float,
        retries: int,
        notice: Log,
        log: Log | None = None,
        connect_timeout: float | None = None,
        idle_timeout: float | None = None,
        fresh_after: float = FRESH_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout`: the wait for the answer to begin once the request is sent;
        `connect_timeout` (default: `timeout`, at most 10 s): for the connection;
        `idle_timeout` (default: `timeout`): the longest silence once the answer began;
        `fresh_after`: seconds of quiet after which a request opens a new connection
        (api.keepalive), measured by `clock`; `notice`: the retry countdowns; `log`:
        the debug log (redacted)."""
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        redact.add(api_key)
        self.timeout = timeout
        self.connect_timeout = connect_timeout or min(timeout, 10.0)
        self.idle_timeout = idle_timeout or timeout
        self.retries = retries
        self.policy = RetryPolicy(retries)
        self._quiet = QuietTimer(fresh_after, clock)
        self._notice = notice
        self._log = log
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"aimlchat/{__version__}"

    # -- sending ------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        sse: bool,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        root: str | None = None,
        each: Callable[[], dict[str, str]] | None = None,
    ) -> requests.Response:
        """One request to the API at `root` (default: the base URL) + `path`, with the key,
        sent again as the retry policy allows (a POST only when it certainly never left);
        a 2xx or 304 with its body still to read (close it with `done`), else the error.
        `each`: headers made anew for every attempt (a retry's own request id)."""
        url = (self.base_url if root is None else root) + path
        hdrs = dict(headers or {})
        if self._key:
            hdrs["Authorization"] = f"Bearer {self._key}"
        if sse:
            hdrs["Accept"] = "text/event-stream"
            # Compressed streams arrive in compressor-sized lumps; ask for plain bytes.
            hdrs["Accept-Encoding"] = "identity"
        idempotent = method == "GET"
        attempt = 0
        while True:
            if each is not None:
                hdrs.update(each())
            self._fresh_if_quiet(url)
            self._debug_request(method, url, hdrs, body)
            failure: AimlchatError
            try:
                resp = self._session.request(
                    method,
                    url,
                    json=body,
                    headers=hdrs,
                    params=params,
                    stream=True,  # the body is read by whoever handles it: stream or JSON
                    timeout=(self.connect_timeout, self.timeout),
                    allow_redirects=False,
                )
            except UNSENDABLE as exc:
                raise self._unsendable(exc, url) from None
            except requests.RequestException as exc:
                self.debug(f"request failed: {exc!r}")
                failure = self._network_error(exc, url, paid=not idempotent)
                why = failure.message
            else:
                self.debug(f"<- {resp.status_code} {resp.reason} {dict(resp.headers)}")
                if resp.status_code < 400 or resp.status_code == 304:
                    return self._answered(resp)
                failure = self._error_from(resp)
                if isinstance(failure, ApiError):
                    failure.retry_after = retry_after(resp.headers.get("Retry-After"))
                why = f"HTTP {resp.status_code}"
            delay = self.policy.delay(attempt, failure, idempotent=idempotent)
            if delay is None:
                asked = self.policy.too_long(failure)
                if asked is not None and self.policy.retryable(failure):
                    failure.message += f"; the server asks to wait {asked:.0f}s"
                    # longer than aimlchat waits: more retries cannot help
                    failure.hint = "try again after that"
                raise failure
            self._wait(attempt, delay, why)
            attempt += 1

    def get_elsewhere(self, url: str, headers: dict[str, str], why: str) -> requests.Response:
        """One GET of a URL off the API's host (`why` says what for, in the debug log):
        never with the key, redirects not followed, not retried; its body still to read."""
        self.debug(f"-> GET {url} ({why}: no key)")
        try:
            return self._session.get(
                url,
                headers=headers,  # and never Authorization
                stream=True,
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=False,
            )
        except UNSENDABLE as exc:
            raise self._unsendable(exc, url) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, url, paid=False) from None

    # -- reading ------------------------------------------------------------------

    @contextlib.contextmanager
    def done(self, resp: requests.Response) -> Iterator[requests.Response]:
        """Closes an API answer (its connection goes back to the pool) and notes when."""
        try:
            yield resp
        finally:
            resp.close()
            self._quiet.answered()

    def events(self, resp: requests.Response) -> Iterator[SSEEvent]:
        """A stream's SSE events, each as soon as its bytes arrive."""
        try:
            yield from self._sse_events(resp)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise self._body_error(exc) from None

    def content(self, resp: requests.Response) -> bytes:
        """The whole body."""
        try:
            return resp.content
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._body_error(exc) from None

    def read_up_to(self, resp: requests.Response, limit: int) -> bytes:
        """At most `limit` bytes of the body, decoded (gzip undone)."""
        try:
            body: bytes = resp.raw.read(limit, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._body_error(exc) from None
        return body

    def json(self, resp: requests.Response, body: bytes | None = None) -> Any:
        """The body (or `body`, already read from it) as JSON."""
        ctype = resp.headers.get("Content-Type", "")
        if body is None:
            body = self.content(resp)
        try:
            return json.loads(body)
        except ValueError:
            kind = ctype.split(";")[0] or "no content type"
            raise ApiError(
                f"invalid response from server: expected JSON, got {kind}",
                hint="is --base-url pointing at an OpenAI-compatible API (ending in /v1)?",
            ) from None

    def debug(self, text: str) -> None:
        if self._log:
            self._log(redact(text))

    # -- internals ----------------------------------------------------------------

    @staticmethod
    def _sse_events(resp: requests.Response) -> Iterator[SSEEvent]:
        decoder = SSEDecoder()
        inflater = Inflater.for_header(resp.headers.get("Content-Encoding"))
        while chunk := resp.raw.read1(READ_SIZE):
            yield from decoder.feed(inflater.feed(chunk) if inflater else chunk)
        yield from decoder.finish()

    def _body_error(self, exc: BaseException) -> NetworkError:
        """The answer began and then stopped coming: never sent again (it was received)."""
        self.debug(f"error reading the answer: {exc!r}")
        # requests wraps a read timeout in the body as ConnectionError(ReadTimeoutError).
        cause = exc.args[0] if isinstance(exc, requests.RequestException) and exc.args else exc
        if isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return NetworkError(
                f"the server sent nothing for {self.idle_timeout:g}s; the reply is incomplete"
            )
        return NetworkError("the connection dropped; the reply is incomplete")

    def _fresh_if_quiet(self, url: str) -> None:
        """After a quiet spell, no kept-alive connection (see api.keepalive): a fresh one
        that fails to connect is known unsent and retried; a stale one's failure is not."""
        if self._quiet.too_quiet():
            self.debug(f"quiet for over {self._quiet.limit:g}s: opening a fresh connection")
            self._session.get_adapter(url).close()  # pools are made again on demand

    def _answered(self, resp: requests.Response) -> requests.Response:
        """A 2xx or 304, its body still to read (a redirect is refused)."""
        if 300 <= resp.status_code < 400 and resp.status_code != 304:
            resp.close()
            raise ApiError(
                f"HTTP {resp.status_code}: the server redirects to "
                f"{resp.headers.get('Location', '?')}",
                hint="update --base-url",
            )
        _set_read_timeout(resp, self.idle_timeout)
        return resp

    def _unsendable(self, exc: Exception, url: str) -> AimlchatError:
        self.debug(f"request not sent: {exc!r}")
        header = isinstance(exc, (requests.exceptions.InvalidHeader, UnicodeEncodeError))
        return unsendable_error(exc, url, header=header, bad_url=isinstance(exc, BAD_URL))

    def _network_error(
        self, exc: requests.RequestException, url: str, *, paid: bool
    ) -> NetworkError:
        unsent = _unsent(exc)
        return network_error(
            exc,
            url,
            self.connect_timeout if unsent else self.timeout,
            timed_out=isinstance(exc, requests.Timeout),
            tls=isinstance(exc, requests.exceptions.SSLError),
            unsent=unsent,
            paid=paid,
        )

    def _error_from(self, resp: requests.Response) -> AimlchatError:
        with self.done(resp):  # a retry after Retry-After may find this connection stale
            try:
                body = resp.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
            except (urllib3.exceptions.HTTPError, OSError):
                body = b""
        if self._log:
            text = body.decode("utf-8", "replace")
            cut = f"… ({len(body)} bytes)" if len(text) > DEBUG_BODY_LIMIT else ""
            self.debug(f"<- error body: {text[:DEBUG_BODY_LIMIT]}{cut}")
        return http_error(
            resp.status_code, resp.reason or "", body, resp.headers.get("Content-Type", "")
        )

    def _wait(self, attempt: int, delay: float, why: str) -> None:
        from aimlchat.terminal.spinner import Pause  # a spinner counts it down, then resumes

        count = f"({attempt + 1}/{self.retries})"
        self._notice(
            Pause(
                f"{why}; retrying in {delay:.1f}s {count}",
                seconds=delay,
                before=f"{why}; retrying {count} in",
                after=f"waiting (retry {attempt + 1}/{self.retries})",
            )
        )
        time.sleep(delay)

    def _debug_request(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        if not self._log:
            return
        shown = {k: ("Bearer ***" if k == "Authorization" else v) for k, v in headers.items()}
        text = json.dumps(body, ensure_ascii=False) if body is not None else ""
        if len(text) > DEBUG_BODY_LIMIT:
            text = text[:DEBUG_BODY_LIMIT] + f"… ({len(text)} chars)"
        self.debug(f"-> {method} {url} {shown} {text}")
