"""The request module: the only place that talks HTTP (and the only importer of requests).

`chat` returns a `Response` whose events come the moment their bytes arrive: a stream
is read with urllib3's `read1`, which returns whatever the socket has, because requests'
`iter_content`/`iter_lines` wait for a full chunk size (or, on a body that ends when
the server closes the socket, for the whole body). `read1` does not undo a
Content-Encoding, so a gzipped stream (a proxy that ignores `Accept-Encoding: identity`)
is inflated here, chunk by chunk, as it arrives.

A `Client` belongs to one thread: requests does not promise that a `Session` may be
shared, so the batch workers build one each (batch.request keeps it thread-local), and
each keeps its own connection alive from one request to the next.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from aimlchat import __version__
from aimlchat.api import adapters
from aimlchat.api.adapters import CHAT, RESPONSES, ChatRequest
from aimlchat.api.aimlapi import REQUEST_ID_HEADER, request_id, resent_id, run_id
from aimlchat.api.errors_http import (
    SEARCH_HINT,
    http_error,
    network_error,
    search_refusals,
    unsendable_error,
)
from aimlchat.api.events import ReplyInfo
from aimlchat.api.inflate import Inflater
from aimlchat.api.keepalive import FRESH_AFTER, QuietTimer
from aimlchat.api.pages import is_text, redirect_target
from aimlchat.api.response import Response
from aimlchat.api.retry import RetryPolicy, retry_after
from aimlchat.api.sse import SSEDecoder, SSEEvent
from aimlchat.errors import AimlchatError, ApiError, NetworkError, UsageError, redact
from aimlchat.record import record, replace

if TYPE_CHECKING:
    from types import ModuleType as Adapter  # an api.adapters module

    from aimlchat.api.route import Route, Router

READ_SIZE = 65536
ERROR_BODY_LIMIT = 65536
DEBUG_BODY_LIMIT = 2000
PAGE_LIMIT = 2 * 1024 * 1024  # -f URL: a page, not a download
MAX_REDIRECTS = 5
EMPTY_STREAM_NOTICE = (
    "the server sent an empty stream; asking once more without streaming to learn why"
)
PAGE_ACCEPT = "text/html, text/plain;q=0.9, text/*;q=0.8, application/json;q=0.8, */*;q=0.1"
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


@record(frozen=True)
class ModelsResponse:
    status: int  # 200, or 304 when the cached copy is still current
    etag: str | None
    data: Any


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


def _hint(exc: ApiError, hint: str) -> None:
    """Put `hint` first in what the error line adds."""
    exc.hint = f"{hint}; {exc.hint}" if exc.hint else hint


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
        router: Router | None = None,
        note: Log | None = None,
        connect_timeout: float | None = None,
        idle_timeout: float | None = None,
        fresh_after: float = FRESH_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout`: the wait for the answer to begin once the request is sent;
        `connect_timeout` (default: `timeout`, at most 10 s): for the connection;
        `idle_timeout` (default: `timeout`): the longest silence once the answer began;
        `fresh_after`: seconds of quiet after which a request opens a new connection
        (api.keepalive), measured by `clock`; `router`: which API a model gets when
        `chat` is not told (api.route; without one, Chat Completions, falling back);
        `note`: a line that stays on screen (the fallback to Responses), else `notice`."""
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
        self._router = router
        self._note = note or notice
        # A 404 for a model, before it is raised: api.deprecations adds what the feed says.
        self.not_found: Callable[[str, ApiError], None] | None = None
        # The hint of a model's refusal to search: the App names config.toml when the
        # search came from there (errors_http.CONFIG_SEARCH_HINT).
        self.search_hint = SEARCH_HINT
        # (API, model) -> the adapter's own extras its server refused (left out from then on)
        self._plain: dict[tuple[str, str], frozenset[str]] = {}
        self._told: set[tuple[str, str]] = set()  # (API, parameter): said to be left out
        self._said: set[tuple[str, str]] = set()  # notices given, without a router
        self._sent_ids: dict[str, int] = {}  # X-Client-Request-Id -> HTTP requests made with it
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"aimlchat/{__version__}"

    # -- public API ---------------------------------------------------------------

    def chat(self, request: ChatRequest, api: str | None = None) -> Response:
        """The reply to one request, streamed when `request.stream`, over the API shape
        named by `api` (api.adapters: "chat" or "responses"; None: the router decides,
        and a Chat Completions 4xx naming the responses endpoint is asked once there).

        Nothing is sent until the response is first read; every error (HTTP, network,
        a malformed or cut-short reply) is raised from reading it.

        Every HTTP request carries an `X-Client-Request-Id`: the request's own (sanitised),
        else a random one; a request sent again (a retry, the other API, without the
        extras a server refused) gets it with `.2`, `.3`: each distinct, all traceable."""
        base = request.client_request_id or f"aimlchat:{run_id()}"
        request = replace(request, client_request_id=request_id(base))
        route = self._route(request.model, api)
        adapter = adapters.load(route.api)
        # The fallback switches the parser before the first event arrives.
        source = self._routed(route, request, lambda to: response.use(to))
        if request.web_search:  # a model that cannot search is refused as one
            source = search_refusals(source, request.model, self.search_hint)
        response = Response(source, adapter)
        return response

    def complete(self, request: ChatRequest, api: str | None = None) -> Response:
        """One non-streamed request, read whole before this returns (errors raise here)."""
        response = self.chat(replace(request, stream=False), api)
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
        with self._done(resp):
            if resp.status_code == 304:
                return ModelsResponse(304, etag, None)
            return ModelsResponse(resp.status_code, resp.headers.get("ETag"), self._json(resp))

    def get_deprecations(self, etag: str | None) -> ModelsResponse:
        """The model retirement feed (api.deprecations), revalidated as `get_models` is."""
        headers = {"If-None-Match": etag} if etag else {}
        resp = self._send(
            "GET",
            "/models/deprecations",
            None,
            sse=False,
            headers=headers,
            auth=self._key is not None,
        )
        with self._done(resp):
            if resp.status_code == 304:
                return ModelsResponse(304, etag, None)
            return ModelsResponse(resp.status_code, resp.headers.get("ETag"), self._json(resp))

    def get_account(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET one of the AI/ML API's account endpoints (`/v2/billing`, `/v2/usage`): `path`
        is absolute on the API's host (beside /v1); the key goes in the header, as for
        every request. Its JSON body; a body that is not JSON is an ApiError with the
        answer's status (a server without the endpoint may answer 200 with a web page)."""
        from aimlchat.api.aimlapi import api_root

        resp = self._send("GET", path, None, sse=False, params=params, root=api_root(self.base_url))
        with self._done(resp):
            body = self._content(resp)
        try:
            return json.loads(body)
        except ValueError:
            kind = resp.headers.get("Content-Type", "").split(";")[0] or "no content type"
            raise ApiError(
                f"{path} answered with {kind}, not JSON", status=resp.status_code
            ) from None

    def fetch_text(self, url: str, *, limit: int = PAGE_LIMIT) -> tuple[bytes, str]:
        """A page for `-f URL`: (body, content type), redirects followed over http(s) only.

        The page's host is not the API: the key is never sent there. The body is read
        only for a text type, at most `limit` bytes once decoded; for any other type it
        is b"" and the caller decides (an image URL is passed on as a URL).
        """
        for _ in range(MAX_REDIRECTS + 1):
            with closing(self._get_page(url)) as resp:
                if resp.is_redirect:
                    url = redirect_target(url, resp.headers.get("Location", ""))
                    continue
                ctype = resp.headers.get("Content-Type", "")
                if resp.status_code >= 400:
                    error = UsageError if resp.status_code < 500 else NetworkError
                    raise error(f"cannot fetch {url}: HTTP {resp.status_code} {resp.reason}")
                if not is_text(ctype):  # the caller says what it is (or passes an image on)
                    return b"", ctype
                return self._read_page(resp, url, limit), ctype
        raise UsageError(f"cannot fetch {url}: more than {MAX_REDIRECTS} redirects")

    # -- internals ----------------------------------------------------------------

    def _get_page(self, url: str) -> requests.Response:
        self._debug(f"-> GET {url} (a page for -f: no key)")
        try:
            return self._session.get(
                url,
                headers={"Accept": PAGE_ACCEPT},  # and never Authorization
                stream=True,
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=False,
            )
        except UNSENDABLE as exc:
            raise self._unsendable(exc, url) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, url, paid=False) from None

    def _read_page(self, resp: requests.Response, url: str, limit: int) -> bytes:
        too_big = UsageError(
            f"{url} is larger than the {limit // (1024 * 1024)} MB limit for -f",
            hint="save the part you need to a file and pass that",
        )
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_big
        try:
            body: bytes = resp.raw.read(limit + 1, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            why = self._body_error(exc).message.split(";")[0]
            raise NetworkError(f"cannot fetch {url}: {why}") from None
        if len(body) > limit:
            raise too_big
        return body

    def _route(self, model: str, api: str | None) -> Route:
        from aimlchat.api.route import Route

        router = self._router
        if api is not None and (router is None or api != router.flag):
            route = Route(api, "asked by the caller", forced=True)
        elif router is not None:  # None, or the --api the router knows (says so)
            route = router.route(model)
        else:
            route = Route(CHAT, "the default")
        self._debug(f"API for {model}: {route.api} ({route.why})")
        return route

    def _routed(
        self, route: Route, request: ChatRequest, switch: Callable[[Adapter], None]
    ) -> Iterator[SSEEvent | Any]:
        """The reply over the routed API. Before any reply, a 4xx may send it once to the
        other API (no reply was made: no second charge): a Chat Completions 4xx saying
        the model answers only on the responses endpoint, unless the user chose the API;
        or a remembered /responses refused (404, 405, a 4xx naming chat/completions)."""
        said = False
        try:
            for item in self._chat_source(adapters.load(route.api), request):
                said = said or not isinstance(item, ReplyInfo)
                yield item
            return
        except ApiError as exc:
            to = None if said else self._fallback(route, request, exc)
            if to is None:
                if exc.status == 404 and self.not_found is not None:
                    self.not_found(request.model, exc)
                raise
            refused = exc
        if to == RESPONSES:
            yield from self._to_responses(request, refused, switch)
        else:
            yield from self._back_to_chat(request, refused, switch)

    def _fallback(self, route: Route, request: ChatRequest, exc: ApiError) -> str | None:
        """The API to ask once more after `exc`, or None (then `exc` says why not)."""
        from aimlchat.api.route import names_chat, names_responses, sent_texts

        status = exc.status
        if status is None or not 400 <= status < 500 or status in (401, 403, 408, 409, 429):
            return None
        sent = sent_texts(request)
        if route.api == CHAT and names_responses(exc.message, sent):
            if not route.forced:
                return RESPONSES
            chose = {
                "--api": "--api chat",
                "config.toml": f'api = "chat" for {request.model} in config.toml',
            }.get(route.why, "the chat API")
            _hint(exc, f"you chose {chose}; this model answers only on {self._where(RESPONSES)}")
        elif route.api == RESPONSES and route.remembered:
            if status in (404, 405) or names_chat(exc.message, sent):
                return CHAT
            memory = self._router.memory if self._router else None
            remembered = f"{self._where(RESPONSES)} was remembered for {request.model}"
            _hint(exc, f"{remembered} in {memory or 'this run'}; --api chat overrides it")
        return None

    def _to_responses(
        self, request: ChatRequest, refused: ApiError, switch: Callable[[Adapter], None]
    ) -> Iterator[SSEEvent | Any]:
        """Ask on /responses; once it answers, say so (once a run) and remember it."""
        where = self._where(RESPONSES)
        self._debug(f"API for {request.model}: {RESPONSES} (the server's 4xx names it)")
        responses = adapters.load(RESPONSES)
        switch(responses)
        answered = False
        try:
            for item in self._chat_source(responses, request):
                if not answered:  # it answers there: only now is it worth remembering
                    answered = True
                    kept = self._router.learn(request.model, RESPONSES) if self._router else False
                    if self._first(request.model, RESPONSES):
                        self._note(
                            f"{request.model} answers only on {where}; using it"
                            + (" (remembered)" if kept else "")
                        )
                yield item
        except ApiError as exc:
            if not answered:
                _hint(exc, f"asked on {where} since {self._where(CHAT)} said: {refused.message}")
            raise

    def _back_to_chat(
        self, request: ChatRequest, refused: ApiError, switch: Callable[[Adapter], None]
    ) -> Iterator[SSEEvent | Any]:
        """A remembered /responses no longer holds: forget it, ask Chat Completions once."""
        if self._router is not None:
            self._router.forget(request.model)
        self._debug(f"API for {request.model}: {CHAT} (the remembered {RESPONSES} was refused)")
        if self._first(request.model, CHAT):
            why = f"HTTP {refused.status}" if refused.status in (404, 405) else refused.message
            self._note(
                f"{request.model}: {self._where(RESPONSES)} refused it ({why}); forgot that "
                f"and asking {self._where(CHAT)}"
            )
        switch(adapters.load(CHAT))
        yield from self._chat_source(adapters.load(CHAT), request)

    def _where(self, api: str) -> str:
        """An API's path as the user's base URL has it: `/v1/responses`."""
        path: str = adapters.load(api).PATH
        return urlsplit(self.base_url).path.rstrip("/") + path

    def _first(self, model: str, what: str) -> bool:
        """Whether a notice is new this run: the router's (shared by batch's workers)."""
        if self._router is not None:
            return self._router.first(model, what)
        new = (model, what) not in self._said
        self._said.add((model, what))
        return new

    def _chat_source(self, adapter: Adapter, request: ChatRequest) -> Iterator[SSEEvent | Any]:
        said = yield from self._asked(adapter, request, empty_ok=request.stream)
        if said or not request.stream:
            return
        # 200 and not one event: no reply was made (llama.cpp's Python server, when the
        # prompt overflows its window), so it is no network failure, and sending it again
        # cannot bill a second reply. The unstreamed answer says why (a 400 the context
        # logic handles) or is the reply. Once: an unstreamed request is never repeated.
        self._debug("200 with no event: asking again without streaming")
        self._notice(EMPTY_STREAM_NOTICE)
        if not (yield from self._asked(adapter, replace(request, stream=False), empty_ok=True)):
            raise ApiError(
                "the server answered 200 with an empty body, streamed and not: "
                "no reply and no error",
                hint="its log may say why (a prompt longer than its context window?)",
            )

    def _asked(
        self, adapter: Adapter, request: ChatRequest, *, empty_ok: bool
    ) -> Generator[SSEEvent | Any, None, bool]:
        """`_chat_reply` with the adapter's body. What the adapter asks on its own (the
        Responses API's encrypted reasoning, its reasoning summary) and a server refuses
        with a 400 is left out of one more try and of every later request for the model:
        a 4xx made no reply. Parameters the adapter cannot send are said once a run."""
        unsent = getattr(adapter, "unsent", None)
        for name, line in (unsent(request) if unsent else {}).items():
            if (adapter.NAME, name) not in self._told:
                self._told.add((adapter.NAME, name))
                self._note(line)
        plain = getattr(adapter, "plain_body", None)
        key = (adapter.NAME, request.model)
        left_out: frozenset[str] = self._plain.get(key, frozenset())
        body = (plain(request, left_out) if plain and left_out else None) or adapter.body(request)
        rid = request.client_request_id
        try:
            return (yield from self._chat_reply(adapter.PATH, body, empty_ok=empty_ok, rid=rid))
        except ApiError as exc:
            lean = named = None
            if plain and exc.status in (400, 422):
                named = adapter.refused_extras(exc.message) - left_out
                lean = plain(request, left_out | named) if named else None
            if lean is None or named is None:
                raise
            self._plain[key] = left_out | named
            self._debug(f"{exc.message}: asking again without {', '.join(sorted(named))}")
        return (yield from self._chat_reply(adapter.PATH, lean, empty_ok=empty_ok, rid=rid))

    def _chat_reply(
        self, path: str, body: dict[str, Any], *, empty_ok: bool, rid: str | None = None
    ) -> Generator[SSEEvent | Any, None, bool]:
        """One POST: its headers (ReplyInfo), then its SSE events, or its decoded body;
        whether it said anything. A blank body is an error, or with `empty_ok`, says
        nothing (False). `rid`: the X-Client-Request-Id it is sent under."""
        resp = self._send("POST", path, body, sse=bool(body.get("stream")), request_id=rid)
        with self._done(resp):
            yield ReplyInfo(resp.headers)
            if "event-stream" in resp.headers.get("Content-Type", ""):
                said = False
                for event in self._read_stream(resp):
                    said = True
                    yield event
                return said
            data = self._content(resp)  # not asked to stream, or a server that ignores it
            if empty_ok and not data.strip():
                return False
            yield self._json(resp, data)
            return True

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
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise self._body_error(exc) from None

    def _body_error(self, exc: BaseException) -> NetworkError:
        """The answer began and then stopped coming: never sent again (it was received)."""
        self._debug(f"error reading the answer: {exc!r}")
        # requests wraps a read timeout in the body as ConnectionError(ReadTimeoutError).
        cause = exc.args[0] if isinstance(exc, requests.RequestException) and exc.args else exc
        if isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return NetworkError(
                f"the server sent nothing for {self.idle_timeout:g}s; the reply is incomplete"
            )
        return NetworkError("the connection dropped; the reply is incomplete")

    def _content(self, resp: requests.Response) -> bytes:
        try:
            return resp.content
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._body_error(exc) from None

    def _json(self, resp: requests.Response, body: bytes | None = None) -> Any:
        ctype = resp.headers.get("Content-Type", "")
        if body is None:
            body = self._content(resp)
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
        root: str | None = None,
        request_id: str | None = None,
    ) -> requests.Response:
        url = (self.base_url if root is None else root) + path
        hdrs = dict(headers or {})
        if auth and self._key:
            hdrs["Authorization"] = f"Bearer {self._key}"
        if sse:
            hdrs["Accept"] = "text/event-stream"
            # Compressed streams arrive in compressor-sized lumps; ask for plain bytes.
            hdrs["Accept-Encoding"] = "identity"
        idempotent = method == "GET"
        attempt = 0
        while True:
            if request_id is not None:  # each attempt its own, traceable to the first
                hdrs[REQUEST_ID_HEADER] = self._next_id(request_id)
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
                self._debug(f"request failed: {exc!r}")
                failure = self._network_error(exc, url, paid=not idempotent)
                why = failure.message
            else:
                self._debug(f"<- {resp.status_code} {resp.reason} {dict(resp.headers)}")
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

    def _next_id(self, base: str) -> str:
        """`base` for its first HTTP request, then `base.2`, `base.3`, …"""
        if len(self._sent_ids) > 4096:  # a long batch: old ids are never sent again
            self._sent_ids.clear()
        n = self._sent_ids[base] = self._sent_ids.get(base, 0) + 1
        return resent_id(base, n)

    def _fresh_if_quiet(self, url: str) -> None:
        """After a quiet spell, no kept-alive connection (see api.keepalive): a fresh one
        that fails to connect is known unsent and retried; a stale one's failure is not."""
        if self._quiet.too_quiet():
            self._debug(f"quiet for over {self._quiet.limit:g}s: opening a fresh connection")
            self._session.get_adapter(url).close()  # pools are made again on demand

    @contextlib.contextmanager
    def _done(self, resp: requests.Response) -> Iterator[requests.Response]:
        """Closes an API answer (its connection goes back to the pool) and notes when."""
        try:
            yield resp
        finally:
            resp.close()
            self._quiet.answered()

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
        self._debug(f"request not sent: {exc!r}")
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
        with self._done(resp):  # a retry after Retry-After may find this connection stale
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
