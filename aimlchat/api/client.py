"""The client: what aimlchat asks the API. A chat request over the API its model takes
(api.route, api.adapters), once more on the other API when a 4xx says so, once more
without the extras a server refused, each HTTP request under its own request id; and the
AI/ML API's own GETs (catalogue, retirement feed, account). HTTP is api.transport's.

A `Client` belongs to one thread, as its transport does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aimlchat.api import adapters, pages
from aimlchat.api.adapters import CHAT, RESPONSES, ChatRequest
from aimlchat.api.aimlapi import REQUEST_ID_HEADER, resent_id, sendable_id
from aimlchat.api.errors_http import SEARCH_HINT, search_refusals
from aimlchat.api.events import ReplyInfo
from aimlchat.api.keepalive import FRESH_AFTER
from aimlchat.api.response import Response
from aimlchat.api.transport import Log, Transport
from aimlchat.errors import ApiError
from aimlchat.record import record, replace

if TYPE_CHECKING:
    from types import ModuleType as Adapter  # an api.adapters module

    from aimlchat.api.route import Route, Router
    from aimlchat.sse import SSEEvent

QUICK_TIMEOUT = 3.0  # seconds, for the feed asked while a 404 waits to be explained
EMPTY_STREAM_NOTICE = (
    "the server sent an empty stream; asking once more without streaming to learn why"
)


@record(frozen=True)
class ModelsResponse:
    status: int  # 200, or 304 when the cached copy is still current
    etag: str | None
    data: Any


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
        """The timeouts, `retries`, `fresh_after`, `clock` and `log` are the transport's
        (api.transport); `router`: which API a model gets when `chat` is not told
        (api.route; without one, Chat Completions, falling back); `notice`: a passing
        line; `note`: a line that stays on screen (the fallback to Responses), else
        `notice`."""
        self.transport = Transport(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            notice=notice,
            log=log,
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
            fresh_after=fresh_after,
            clock=clock,
        )
        self.base_url = self.transport.base_url
        self._notice = notice
        self._router = router
        self._note = note or notice
        self._debug = self.transport.debug
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
        request = replace(request, client_request_id=sendable_id(request.client_request_id))
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
        """The catalogue (api.catalog), revalidated with its ETag; the key is sent when
        there is one (a server may want it), though the AI/ML API's needs none."""
        params = {"include": "pricing,modalities,capabilities"}
        return self._revalidated("/models", etag, params)

    def get_deprecations(self, etag: str | None) -> ModelsResponse:
        """The model retirement feed (api.deprecations), revalidated as `get_models` is."""
        return self._revalidated("/models/deprecations", etag)

    def quick_deprecations(self, etag: str | None) -> ModelsResponse:
        """`get_deprecations` in one attempt with a short timeout, no retries: a 404 waits
        for the feed to explain it, and the error is what the user is waiting for."""
        from aimlchat.api.retry import RetryPolicy

        http = self.transport
        kept = http.policy, http.timeout, http.connect_timeout, http.idle_timeout
        # The transport is this thread's alone (a Client belongs to one), so its policy
        # and timeouts can be set for one request and put back.
        http.policy = RetryPolicy(0)
        http.timeout = min(http.timeout, QUICK_TIMEOUT)
        http.connect_timeout = min(http.connect_timeout, QUICK_TIMEOUT)
        http.idle_timeout = min(http.idle_timeout, QUICK_TIMEOUT)
        try:
            return self._revalidated("/models/deprecations", etag)
        finally:
            http.policy, http.timeout, http.connect_timeout, http.idle_timeout = kept

    def get_account(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET one of the AI/ML API's account endpoints (`/v2/billing`, `/v2/usage`): `path`
        is absolute on the API's host (beside /v1); the key goes in the header, as for
        every request. Its JSON body; a body that is not JSON is an ApiError with the
        answer's status (a server without the endpoint may answer 200 with a web page)."""
        from aimlchat.api.aimlapi import api_root

        http = self.transport
        resp = http.send("GET", path, None, sse=False, params=params, root=api_root(self.base_url))
        with http.done(resp):
            body = http.content(resp)
        try:
            return json.loads(body)
        except ValueError:
            kind = resp.headers.get("Content-Type", "").split(";")[0] or "no content type"
            raise ApiError(
                f"{path} answered with {kind}, not JSON", status=resp.status_code
            ) from None

    def fetch_text(self, url: str, *, limit: int = pages.PAGE_LIMIT) -> tuple[bytes, str]:
        """A page for `-f URL` over this client's connection (api.pages): never the key."""
        return pages.fetch_text(self.transport, url, limit=limit)

    # -- internals ----------------------------------------------------------------

    def _revalidated(
        self, path: str, etag: str | None, params: dict[str, str] | None = None
    ) -> ModelsResponse:
        http = self.transport
        headers = {"If-None-Match": etag} if etag else {}
        resp = http.send("GET", path, None, sse=False, headers=headers, params=params)
        with http.done(resp):
            if resp.status_code == 304:
                return ModelsResponse(304, etag, None)
            return ModelsResponse(resp.status_code, resp.headers.get("ETag"), http.json(resp))

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
        http = self.transport
        each = (lambda: self._next_id(rid)) if rid is not None else None
        resp = http.send("POST", path, body, sse=bool(body.get("stream")), each=each)
        with http.done(resp):
            yield ReplyInfo(resp.headers)
            if "event-stream" in resp.headers.get("Content-Type", ""):
                said = False
                for event in http.events(resp):
                    said = True
                    yield event
                return said
            data = http.content(resp)  # not asked to stream, or a server that ignores it
            if empty_ok and not data.strip():
                return False
            yield http.json(resp, data)
            return True

    def _next_id(self, base: str) -> dict[str, str]:
        """The header for `base`'s next HTTP request: `base`, then `base.2`, `base.3`, …"""
        if len(self._sent_ids) > 4096:  # a long batch: old ids are never sent again
            self._sent_ids.clear()
        n = self._sent_ids[base] = self._sent_ids.get(base, 0) + 1
        return {REQUEST_ID_HEADER: resent_id(base, n)}
