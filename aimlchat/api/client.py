"""The request module: the only place that talks HTTP (and the only importer of requests).

`chat` returns a `Response` whose events come the moment their bytes arrive: a stream
is read with urllib3's `read1`, which returns whatever the socket has, because requests'
`iter_content`/`iter_lines` wait for a full chunk size (or, on a body that ends when
the server closes the socket, for the whole body). `read1` does not undo a
Content-Encoding, so a gzipped stream (a proxy that ignores `Accept-Encoding: identity`)
is inflated here, chunk by chunk, as it arrives.

One `Client` may be shared by threads (the batch workers): its `requests.Session` is
configured once in `__init__` and never changed afterwards, and urllib3's connection pool
is thread-safe; `pool_size` bounds the connections it keeps for reuse.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions

from aimlchat import __version__
from aimlchat.api.errors_http import http_error, network_error
from aimlchat.api.response import Response
from aimlchat.api.sse import SSEDecoder, SSEEvent
from aimlchat.errors import AimlchatError, ApiError, NetworkError, redact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
BACKOFF_BASE = 0.5
READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536
DEBUG_BODY_LIMIT = 2000

Log = Callable[[str], None]


@dataclass(frozen=True)
class ModelsResponse:
    status: int  # 200, or 304 when the cached copy is still current
    etag: str | None
    data: Any


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff(attempt: int) -> float:
    # Exponential with jitter so that many clients do not retry in lock step.
    return BACKOFF_BASE * (2.0**attempt) * (0.75 + random.random() * 0.5)


class Inflater:
    """Undoes a gzip or deflate Content-Encoding incrementally: each compressed piece
    gives back all the text it holds, so a stream flushed per event stays live."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        # 47 = 32 + 15: a gzip or a zlib header, detected from the first bytes.
        self._z = zlib.decompressobj(47)
        self._fed = False

    @classmethod
    def for_header(cls, value: str | None) -> Inflater | None:
        codings = [c.strip().lower() for c in (value or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return None
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise ApiError(
                f"the server sent the reply encoded as {', '.join(codings)}, "
                "which aimlchat cannot decode",
                hint="a proxy in between may be compressing the stream",
            )
        return cls(codings[0])

    def feed(self, data: bytes) -> bytes:
        try:
            if self._fed or self.coding != "deflate":
                return self._inflate(data)
            self._fed = True
            try:
                return self._inflate(data)
            except zlib.error:
                self._z = zlib.decompressobj(-15)  # "deflate" sent raw, without its header
                return self._inflate(data)
        except zlib.error:
            raise ApiError(f"the server's {self.coding} stream is corrupt") from None

    def _inflate(self, data: bytes) -> bytes:
        out = self._z.decompress(data)
        while self._z.eof and self._z.unused_data:  # gzip members may follow one another
            rest = self._z.unused_data
            self._z = zlib.decompressobj(47)
            out += self._z.decompress(rest)
        return out


class Client:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float,
        retries: int,
        notice: Log,
        log: Log | None = None,
        pool_size: int = requests.adapters.DEFAULT_POOLSIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        redact.add(api_key)
        self.timeout = timeout
        self.retries = retries
        self._notice = notice
        self._log = log
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"aimlchat/{__version__}"
        if pool_size != requests.adapters.DEFAULT_POOLSIZE:
            # One kept connection per worker thread; past the pool, connections are thrown away.
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool_size)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)

    # -- public API ---------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> Response:
        """The reply to one chat request, streamed when `body["stream"]` is true.

        Nothing is sent until the response is first read; every error (HTTP, network,
        a malformed or cut-short reply) is raised from reading it."""
        return Response(self._chat_source(body))

    def complete(self, body: dict[str, Any]) -> Response:
        """One non-streamed request, read whole before this returns (errors raise here)."""
        body = {k: v for k, v in body.items() if k != "stream_options"}
        response = self.chat({**body, "stream": False})
        response.json()
        return response

    def get_models(self, etag: str | None) -> ModelsResponse:
        headers = {"If-None-Match": etag} if etag else {}
        resp = self._send(
            "GET",
            "/models",
            None,
            sse=False,
            headers=headers,
            params={"include": "pricing,modalities,capabilities"},
            auth=self._key is not None,
        )
        with closing(resp):
            if resp.status_code == 304:
                return ModelsResponse(304, etag, None)
            return ModelsResponse(resp.status_code, resp.headers.get("ETag"), self._json(resp))

    # -- internals ----------------------------------------------------------------

    def _chat_source(self, body: dict[str, Any]) -> Iterator[SSEEvent | Any]:
        resp = self._send("POST", "/chat/completions", body, sse=bool(body.get("stream")))
        with closing(resp):
            if "event-stream" in resp.headers.get("Content-Type", ""):
                yield from self._read_stream(resp)
            else:  # not asked to stream, or a server that ignores stream:true
                yield self._json(resp)

    @staticmethod
    def _sse_events(resp: requests.Response) -> Iterator[SSEEvent]:
        decoder = SSEDecoder()
        inflater = Inflater.for_header(resp.headers.get("Content-Encoding"))
        while chunk := resp.raw.read1(READ_SIZE):
            yield from decoder.feed(inflater.feed(chunk) if inflater else chunk)
        yield from decoder.finish()

    def _read_stream(self, resp: requests.Response) -> Iterator[SSEEvent]:
        try:
            yield from self._sse_events(resp)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise NetworkError(
                f"the server sent nothing for {self.timeout:g}s; the reply is incomplete"
            ) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            self._debug(f"stream error: {exc!r}")
            raise NetworkError("the connection dropped; the reply is incomplete") from None

    def _json(self, resp: requests.Response) -> Any:
        ctype = resp.headers.get("Content-Type", "")
        try:
            body = resp.content
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise self._network_error(exc, self.base_url) from None
        try:
            return json.loads(body)
        except ValueError:
            kind = ctype.split(";")[0] or "no content type"
            raise ApiError(
                f"invalid response from server: expected JSON, got {kind}",
                hint="is --base-url pointing at an OpenAI-compatible API (ending in /v1)?",
            ) from None

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        sse: bool,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> requests.Response:
        url = self.base_url + path
        hdrs = dict(headers or {})
        if auth and self._key:
            hdrs["Authorization"] = f"Bearer {self._key}"
        if sse:
            hdrs["Accept"] = "text/event-stream"
            # Compressed streams arrive in compressor-sized lumps; ask for plain bytes.
            hdrs["Accept-Encoding"] = "identity"
        attempt = 0
        while True:
            self._debug_request(method, url, hdrs, body)
            try:
                resp = self._session.request(
                    method,
                    url,
                    json=body,
                    headers=hdrs,
                    params=params,
                    stream=True,  # the body is read by whoever handles it: stream or JSON
                    timeout=(min(self.timeout, 30.0), self.timeout),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._debug(f"request failed: {exc!r}")
                error = self._network_error(exc, url)
                if attempt >= self.retries:
                    raise error from None
                self._wait(attempt, None, error.message)
                attempt += 1
                continue
            self._debug(f"<- {resp.status_code} {resp.reason} {dict(resp.headers)}")
            if resp.status_code < 400 or resp.status_code == 304:
                if 300 <= resp.status_code < 400 and resp.status_code != 304:
                    resp.close()
                    raise ApiError(
                        f"HTTP {resp.status_code}: the server redirects to "
                        f"{resp.headers.get('Location', '?')}",
                        hint="update --base-url",
                    )
                return resp
            failure = self._error_from(resp)
            wait = _retry_after(resp.headers.get("Retry-After"))
            if isinstance(failure, ApiError):
                failure.retry_after = wait
            if resp.status_code not in RETRY_STATUSES or attempt >= self.retries:
                raise failure
            if wait is not None and wait > MAX_RETRY_WAIT:
                failure.message += f"; the server asks to wait {wait:.0f}s"
                raise failure
            self._wait(attempt, wait, f"HTTP {resp.status_code}")
            attempt += 1

    def _network_error(self, exc: BaseException, url: str) -> NetworkError:
        timed_out = isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError))
        tls = isinstance(exc, requests.exceptions.SSLError)
        return network_error(exc, url, self.timeout, timed_out=timed_out, tls=tls)

    def _error_from(self, resp: requests.Response) -> AimlchatError:
        with closing(resp):
            try:
                body = resp.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
            except (urllib3.exceptions.HTTPError, OSError):
                body = b""
        if self._log:
            text = body.decode("utf-8", "replace")
            cut = f"… ({len(body)} bytes)" if len(text) > DEBUG_BODY_LIMIT else ""
            self._debug(f"<- error body: {text[:DEBUG_BODY_LIMIT]}{cut}")
        return http_error(
            resp.status_code, resp.reason or "", body, resp.headers.get("Content-Type", "")
        )

    def _wait(self, attempt: int, retry_after: float | None, why: str) -> None:
        delay = retry_after if retry_after is not None else _backoff(attempt)
        self._notice(f"{why}; retrying in {delay:.1f}s ({attempt + 1}/{self.retries})")
        time.sleep(delay)

    def _debug(self, text: str) -> None:
        if self._log:
            self._log(redact(text))

    def _debug_request(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        if not self._log:
            return
        shown = {k: ("Bearer ***" if k == "Authorization" else v) for k, v in headers.items()}
        text = json.dumps(body, ensure_ascii=False) if body is not None else ""
        if len(text) > DEBUG_BODY_LIMIT:
            text = text[:DEBUG_BODY_LIMIT] + f"… ({len(text)} chars)"
        self._debug(f"-> {method} {url} {shown} {text}")
