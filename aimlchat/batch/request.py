"""The one place a batch record becomes a request, and a reply becomes a result.

Everything the batch knows about the API layer (`Client`, `ChatRequest`, reply parsing,
catalogue prices, `-f` files) is here, so a change in that layer is a change in this file
only. The user message is built as `ask` builds it: the files first (the shared `-f`
ones, then the record's own), then the prompt, with images as image parts.
Each worker thread gets its own `Client`: a requests `Session` is not documented as
thread-safe, and one session per worker keeps one pooled keep-alive connection each.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from aimlchat.api.adapters import ChatRequest, OutputFormat
from aimlchat.api.aimlapi import request_id
from aimlchat.api.catalog import Model, cost, find_model
from aimlchat.api.client import Client
from aimlchat.api.response import Response
from aimlchat.api.route import Router
from aimlchat.batch.records import Record
from aimlchat.chat.files import MAX_TOTAL_BYTES, FileContext, collect, is_url
from aimlchat.chat.tokens import Estimator, fixed_tokens, message_tokens, text_tokens
from aimlchat.errors import ApiError, NetworkError, UsageError
from aimlchat.messages import API, ESTIMATE, Message, user
from aimlchat.record import record

Price = Callable[[str, int, int], "float | None"]
# A record's own output format: a field the record format (batch.records) takes as the
# Chat Completions body names it, and sends as written.
OWN_FORMAT = "response_format"
MostOut = Callable[[str], "int | None"]  # the longest reply a model can give, if known


@record(frozen=True)
class Defaults:
    """What the command line says for every item; a record may override each."""

    model: str
    system: str | None = None
    params: dict[str, Any] | None = None
    format: OutputFormat | None = None  # --format json, --schema FILE
    api: str | None = None  # "chat" or "responses"; None: the router decides (api.route)
    web_search: str | None = None
    files: FileContext = field(default_factory=FileContext)  # -f, collected once
    cwd: Path | None = None  # what a record's relative "files" are relative to
    image_detail: str | None = None


@record(frozen=True)
class Connection:
    base_url: str
    api_key: str
    timeout: float  # for the answer to begin (see api.transport)
    log: Callable[[str], None] | None = None
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    # Which API each model gets; shared by the workers, so what one learns (a model
    # that answers only on /responses) the others use at once.
    router: Router | None = None
    # A line for the user from a worker (a model moved to /responses): once a run.
    note: Callable[[str], None] | None = None
    # A 404 for a model, before it becomes the item's error: (the worker's client, the
    # model, the error); the retirement feed says why (api.deprecations, as App.client).
    not_found: Callable[[Client, str, ApiError], None] | None = None


@record(frozen=True)
class Reply:
    text: str
    finish_reason: str | None
    usage: dict[str, int] | None
    cost: float | None  # USD: the API's charge, else the catalogue's estimate
    cost_source: str | None = None  # "api" | "estimate" (aimlchat.messages); None: no cost
    inference_id: str | None = None  # the API's id for the request (x-inference-id)
    client_request_id: str | None = None  # the X-Client-Request-Id it was sent with


class Unanswered(NetworkError):
    """The request may have reached the server and got no answer: it may have been billed.
    `worst` is the most it can have cost (None: no bound is known)."""

    def __init__(self, error: NetworkError, worst: float | None) -> None:
        super().__init__(error.message, hint=error.hint)
        self.worst = worst


def most_out(models: list[Model]) -> MostOut:
    """The catalogue's bound on a model's reply: its output max, else its context window."""

    def bound(model: str) -> int | None:
        found = find_model(models, model)
        return None if found is None else found.output_max or found.context

    return bound


def prices(models: list[Model]) -> Price:
    """Cost in USD of a reply, from catalogue prices (None when the model has none)."""
    found: dict[str, Model | None] = {}

    def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        if model not in found:
            found[model] = find_model(models, model)
        return cost(found[model], prompt_tokens, completion_tokens)

    return price


class Requester:
    def __init__(
        self,
        connection: Connection,
        defaults: Defaults,
        price: Price,
        most_out: MostOut = lambda model: None,
        check: Callable[[str], None] | None = None,
    ) -> None:
        """`check`: a record's own model, before its request is sent (the retirement
        feed: a withdrawn model raises UsageError, that item's error)."""
        self._connection = connection
        self.defaults = defaults
        self._price = price
        self._most_out = most_out
        self._check = check
        self._local = threading.local()

    def model_of(self, record: Record) -> str:
        return record.model or self.defaults.model

    def system_of(self, record: Record) -> str | None:
        system = self.defaults.system if record.system is None else record.system
        return system or None

    def request(self, record: Record) -> ChatRequest:
        d = self.defaults
        params = {**(d.params or {}), **record.params}
        fmt = d.format
        if OWN_FORMAT in params:
            # An output format in the record (or in [params]) wins over --format/--schema,
            # as a record's fields win over the flags. Read into the neutral form, so each
            # API gets it under its own name; one that is neither kind goes as written.
            from aimlchat.api.adapters.chat_completions import format_from_json

            fmt = format_from_json(params[OWN_FORMAT])
            if fmt is not None:
                params.pop(OWN_FORMAT)
        return ChatRequest(
            model=self.model_of(record),
            messages=(self.message(record),),
            system=self.system_of(record),
            params=params,
            format=fmt,
            stream=False,
            web_search=d.web_search,
            # The item's id and this run's tag (`aimlchat:batch:q1:k3f9`), so the API's
            # usage logs lead back to its record, and another run (--retry-errors) is
            # another id; a retry is sent as `….2` (the client numbers each id's requests).
            client_request_id=request_id("aimlchat", "batch", str(record.id)),
        )

    def message(self, record: Record) -> Message:
        """Shared files, the record's files, then its prompt; reads the record's files."""
        shared, own = self.defaults.files, self._own_files(record)
        files = "\n\n".join([*shared.blocks, *own.blocks])
        text = f"{files}\n\n{record.prompt}" if files else record.prompt
        return user(text, [*shared.images, *own.images])

    def _own_files(self, record: Record) -> FileContext:
        """A record's "files", read in the worker: a problem with them (missing, binary,
        too big) is a UsageError, which makes that item's error record, not the batch's."""
        if not record.files:
            return FileContext()
        d = self.defaults
        own = collect(
            list(record.files),
            cwd=d.cwd or Path.cwd(),
            fetch=self._client().fetch_text if any(is_url(s) for s in record.files) else None,
            image_detail=d.image_detail,
        )
        if d.files.total + own.total > MAX_TOTAL_BYTES:
            raise UsageError(
                f"-f and this record's files add up to more than "
                f"{MAX_TOTAL_BYTES // 1024 // 1024} MB; not sent"
            )
        return own

    def send(self, record: Record) -> Reply:
        """Ask once (no retries here: the scheduler retries, by api.retry's policy)."""
        if record.model and record.model != self.defaults.model and self._check is not None:
            self._check(record.model)  # -m was checked before the batch began
        request = self.request(record)
        try:
            response = self._client().complete(request, self.defaults.api)
        except NetworkError as exc:
            if exc.unsent:
                raise
            raise Unanswered(exc, self.worst_case(request)) from exc
        return self._reply(self.model_of(record), response, request.client_request_id)

    def worst_case(self, request: ChatRequest) -> float | None:
        """The most a request can cost: its estimated prompt (as `ask` estimates it) at
        the input price, plus the longest reply it allows at the output price."""
        model = request.model
        asked = [request.params.get(key) for key in ("max_tokens", "max_completion_tokens")]
        limits = [n for n in asked if isinstance(n, int) and not isinstance(n, bool) and n > 0]
        longest = max(limits) if limits else self._most_out(model)
        if not longest:
            return None
        raw = fixed_tokens(request.system) + sum(message_tokens(m) for m in request.messages)
        if OWN_FORMAT in request.params:
            raw += text_tokens(json.dumps(request.params[OWN_FORMAT], default=str))
        if request.format is not None:
            raw += text_tokens(json.dumps(request.format.schema or {}))
        return self._price(model, Estimator().tokens(raw), longest)

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            c = self._connection
            client = Client(
                base_url=c.base_url,
                api_key=c.api_key,
                timeout=c.timeout,
                connect_timeout=c.connect_timeout,
                idle_timeout=c.idle_timeout,
                retries=0,
                notice=lambda text: None,
                log=c.log,
                router=c.router,
                note=c.note,
            )
            if c.not_found is not None:
                client.not_found = functools.partial(c.not_found, client)
            self._local.client = client
        return client

    def _reply(self, model: str, response: Response, request_id: str | None) -> Reply:
        """The reply as its record tells it: the API's charge when it sent one, else the
        catalogue's price of its tokens (`cost_source` says which)."""
        text, finish, usage = response.text(), response.finish_reason(), response.usage
        counts = (
            None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        )
        charge = response.charge
        cost: float | None
        if charge is not None and charge.usd is not None:
            cost, source = charge.usd, API
        else:
            cost = (
                None
                if usage is None
                else self._price(model, usage.prompt_tokens, usage.completion_tokens)
            )
            source = ESTIMATE
        return Reply(
            text,
            finish,
            counts,
            cost,
            source if cost is not None else None,
            response.inference_id,
            response.client_request_id or request_id,  # the echo: the very request's
        )
