"""The request module: the only place that talks HTTP (and the only importer of requests).

`stream_chat` yields chat events the moment their bytes arrive: it reads with
`urllib3`'s `read1`, which returns whatever the socket has, because requests'
`iter_content`/`iter_lines` wait for a full chunk size (or, on a body that ends when
the server closes the socket, for the whole body).
"""

from __future__ import annotations

import email.utils
import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from aimlchat import __version__
from aimlchat.api.sse import (
    ChatEvent,
    Delta,
    Done,
    Finish,
    SSEDecoder,
    SSEError,
    SSEEvent,
    StreamError,
    Usage,
    error_text,
    interpret,
)
from aimlchat.errors import (
    AimlchatError,
    ApiError,
    AuthError,
    NetworkError,
    RateLimitError,
    redact,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
BACKOFF_BASE = 0.5
READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536

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


def _network_error(exc: BaseException, url: str, timeout: float) -> NetworkError:
    text = str(exc)
    host = url.split("/")[2] if "//" in url else url
    if isinstance(exc, (requests.Timeout, socket.timeout, urllib3.exceptions.TimeoutError)):
        return NetworkError(f"no response from {host} within {timeout:g}s")
    if any(
        s in text
        for s in (
            "Name or service not known",
            "nodename nor servname",
            "Temporary failure in name resolution",
            "NameResolutionError",
            "No address associated",
            "getaddrinfo failed",
        )
    ):
        return NetworkError(f"cannot resolve host {host.rsplit(':', 1)[0]}")
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return NetworkError(f"connection refused by {host}", hint="is the server running?")
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(f"TLS error talking to {host}")
    return NetworkError(f"cannot reach {host}: {type(exc).__name__}")


def http_error(status: int, reason: str, body: bytes, content_type: str) -> AimlchatError:
    """Turn an error response of any shape (AIML, OpenAI, {detail}, HTML) into one error."""
    message = ""
    request_id = None
    text = body.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        rid = obj.get("requestId") or obj.get("request_id")
        request_id = str(rid) if rid else None
        message = error_text(obj)
    elif text.strip() and "html" not in content_type.lower():
        message = " ".join(text.split())[:200]
    message = message or reason or "error"
    head = f"HTTP {status}: {message}"
    if request_id:
        head += f" (request id {request_id})"
    head = redact(head)
    if status in (401, 403):
        return AuthError(head, hint="check AIML_API_KEY or run `aimlchat key set`")
    if status == 429:
        return RateLimitError(
            head,
            status=status,
            request_id=request_id,
            hint="rate limited; wait a little or raise --retries",
        )
    if status == 404:
        return ApiError(
            head,
            status=status,
            request_id=request_id,
            hint="check --base-url and the model name (`aimlchat models`)",
        )
    return ApiError(head, status=status, request_id=request_id)


def completion_events(obj: Any) -> list[ChatEvent]:
    """The events a non-streamed completion stands for, so both paths look alike."""
    if not isinstance(obj, dict):
        raise ApiError("invalid response from server: expected a JSON object")
    if obj.get("error"):
        raise ApiError(redact(f"server error: {error_text(obj['error'])}"))
    choices = obj.get("choices")
    if not isinstance(choices, list):
        raise ApiError("invalid response from server: no 'choices' in the reply")
    events: list[ChatEvent] = []
    for i, choice in enumerate(choices):
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        index = choice.get("index", i) if isinstance(choice, dict) else i
        if isinstance(content, str) and content:
            events.append(Delta(content, index if isinstance(index, int) else i))
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        events.append(Finish(str(reason or "stop"), index if isinstance(index, int) else i))
    usage = Usage.from_json(obj.get("usage"))
    if usage:
        events.append(usage)
    events.append(Done())
    return events


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

    # -- public API ---------------------------------------------------------------

    def stream_chat(self, body: dict[str, Any]) -> Iterator[ChatEvent]:
        """Yield events as they arrive. Raises on an `error` event or a stream cut short."""
        resp = self._send("POST", "/chat/completions", body, stream=True)
        with closing(resp):
            ctype = resp.headers.get("Content-Type", "")
            if "event-stream" not in ctype:
                # Some servers ignore stream:true and answer with one JSON object.
                yield from completion_events(self._json(resp))
                return
            yield from self._read_stream(resp)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = self._send("POST", "/chat/completions", body, stream=False)
        with closing(resp):
            obj = self._json(resp)
        if not isinstance(obj, dict):
            raise ApiError("invalid response from server: expected a JSON object")
        completion_events(obj)  # validates shape and raises on an error object
        return obj

    def get_models(self, etag: str | None) -> ModelsResponse:
        headers = {"If-None-Match": etag} if etag else {}
        resp = self._send(
            "GET",
            "/models",
            None,
            stream=False,
            headers=headers,
            params={"include": "pricing,modalities,capabilities"},
            auth=self._key is not None,
        )
        with closing(resp):
            if resp.status_code == 304:
                return ModelsResponse(304, etag, None)
            return ModelsResponse(resp.status_code, resp.headers.get("ETag"), self._json(resp))

    # -- internals ----------------------------------------------------------------

    @staticmethod
    def _sse_events(resp: requests.Response) -> Iterator[SSEEvent]:
        decoder = SSEDecoder()
        while chunk := resp.raw.read1(READ_SIZE):
            yield from decoder.feed(chunk)
        yield from decoder.finish()

    def _read_stream(self, resp: requests.Response) -> Iterator[ChatEvent]:
        ended = False
        try:
            for sse_event in self._sse_events(resp):
                for event in self._checked(sse_event):
                    ended = ended or isinstance(event, (Done, Finish))
                    yield event
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise NetworkError(
                f"the server sent nothing for {self.timeout:g}s; the reply is incomplete"
            ) from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            self._debug(f"stream error: {exc!r}")
            raise NetworkError("the connection dropped; the reply is incomplete") from None
        if not ended:
            raise NetworkError("the server closed the stream early; the reply is incomplete")

    def _checked(self, sse_event: SSEEvent) -> list[ChatEvent]:
        try:
            events = interpret(sse_event)
        except SSEError as exc:
            raise ApiError(f"invalid response from server: {exc}") from None
        for event in events:
            if isinstance(event, StreamError):
                raise ApiError(redact(f"server error during the reply: {event.message}"))
        return events

    def _json(self, resp: requests.Response) -> Any:
        ctype = resp.headers.get("Content-Type", "")
        try:
            body = resp.content
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise _network_error(exc, self.base_url, self.timeout) from None
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
        stream: bool,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> requests.Response:
        url = self.base_url + path
        hdrs = dict(headers or {})
        if auth and self._key:
            hdrs["Authorization"] = f"Bearer {self._key}"
        if stream:
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
                    stream=stream,
                    timeout=(min(self.timeout, 30.0), self.timeout),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._debug(f"request failed: {exc!r}")
                error = _network_error(exc, url, self.timeout)
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

    def _error_from(self, resp: requests.Response) -> AimlchatError:
        with closing(resp):
            try:
                body = resp.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
            except (urllib3.exceptions.HTTPError, OSError):
                body = b""
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
        if len(text) > 2000:
            text = text[:2000] + f"… ({len(text)} chars)"
        self._debug(f"-> {method} {url} {shown} {text}")
