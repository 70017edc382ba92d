"""What went wrong, in the shapes servers say it: error bodies and failed connections.

Pure functions: an error body (AIML/NestJS, OpenAI, LiteLLM, vLLM, FastAPI, HTML) or a
requests exception in, one typed error with one readable line out.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

from aimlchat.errors import (
    AimlchatError,
    ApiError,
    AuthError,
    ConfigError,
    NetworkError,
    RateLimitError,
    UsageError,
    redact,
)

MAX_FIELDS = 6
T = TypeVar("T")

_DNS_FAILURES = (
    "Name or service not known",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "NameResolutionError",
    "No address associated",
    "getaddrinfo failed",
)


def error_text(obj: Any) -> str:
    """The human message inside an error object of any shape the API uses."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        fields = field_errors(obj)
        if fields:
            head = obj.get("message")
            return _with_fields(head if isinstance(head, str) else "", fields)
        message = next(
            (error_text(obj[k]) for k in ("message", "detail", "error") if obj.get(k)), ""
        )
        if message:
            param = obj.get("param")
            if isinstance(param, str) and param and param not in message:
                return f"{param}: {message}"  # OpenAI names the offending field apart
            return message
        return json.dumps(obj)[:300]
    if isinstance(obj, list) and obj:
        return "; ".join(error_text(x) for x in obj[:3])
    return str(obj)


def field_errors(obj: dict[str, Any]) -> list[str]:
    """`field: message` for each entry of a validation error list, in the two shapes seen:
    `errors: [{path, message}]` (AIML, zod, class-validator) and `detail: [{loc, msg}]`
    (FastAPI, vLLM). Anything else: none."""
    for key, where, what in (("errors", "path", "message"), ("detail", "loc", "msg")):
        items = obj.get(key)
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            found = [
                _field(i.get(where) or i.get("field"), i.get(what) or i.get("message"))
                for i in items
            ]
            return [f for f in found if f]
    error = obj.get("error")
    return field_errors(error) if isinstance(error, dict) else []


def _field(where: Any, what: Any) -> str:
    if isinstance(where, list):
        parts = [str(p) for p in where]
        if parts and parts[0] in ("body", "query"):  # FastAPI's location, not the field
            parts = parts[1:]
        where = ".".join(parts)
    message = what if isinstance(what, str) else json.dumps(what) if what is not None else ""
    if not where:
        return message
    return f"{where}: {message}" if message else str(where)


def _with_fields(message: str, fields: list[str]) -> str:
    shown = "; ".join(fields[:MAX_FIELDS])
    if len(fields) > MAX_FIELDS:
        shown += f"; … and {len(fields) - MAX_FIELDS} more"
    generic = {p.phrase.lower() for p in HTTPStatus} | {"validation error", "validation failed"}
    if not message or message.lower().rstrip(".") in generic or message in shown:
        return shown
    return f"{message}: {shown}"


def http_error(status: int, reason: str, body: bytes, content_type: str) -> AimlchatError:
    """Turn an error response of any shape (AIML, OpenAI, {detail}, HTML) into one error."""
    message = ""
    request_id = code = None
    text = body.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        rid = obj.get("requestId") or obj.get("request_id")
        request_id = str(rid) if rid else None
        message = error_text(obj)
        code = _code(obj)
    elif text.strip() and "html" not in content_type.lower():
        message = " ".join(text.split())[:200]
    message = " ".join((message or reason or "error").split())
    head = f"HTTP {status}: {message}"
    if request_id:
        head += f" (request id {request_id})"
    head = redact(head)
    if status in (402, 403, 429):
        from aimlchat.api import aimlapi  # the account's own wording, read only here

        spent = aimlapi.out_of_credits(message) or code == "insufficient_quota"
    else:
        spent = False
    if spent:
        # No credits left: not a rate limit to wait out, nor a key to fix (exit 3).
        return AuthError(
            head,
            hint="the account has no credits left; top up (AI/ML API: "
            f"{aimlapi.BILLING_DASHBOARD})",
        )
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
    return ApiError(head, status=status, request_id=request_id, code=code)


def _code(obj: dict[str, Any]) -> str | None:
    """OpenAI's `error.code` (or a top-level one): a machine-readable kind of error."""
    error = obj.get("error")
    code = error.get("code") if isinstance(error, dict) else obj.get("code")
    return code if isinstance(code, str) and code else None


def network_error(
    exc: BaseException,
    url: str,
    wait: float,
    *,
    timed_out: bool,
    tls: bool,
    unsent: bool,
    paid: bool,
) -> NetworkError:
    """A request that got no HTTP answer, said in terms of the host the user configured.

    The caller classifies (only it knows requests' types): `unsent` when no connection
    was made, so the server cannot have the request; `wait` is the timeout that ran out.
    A `paid` request that may have reached the server says it may have been billed.
    """
    text = str(exc)
    host = url.split("/")[2] if "//" in url else url
    maybe_billed = "; it may have been billed — not retried" if paid else ""
    if timed_out or isinstance(exc, socket.timeout):
        if unsent:
            return NetworkError(f"could not connect to {host} within {wait:g}s", unsent=True)
        return NetworkError(
            f"no answer from {host} within {wait:g}s after the request was sent{maybe_billed}"
        )
    if any(s in text for s in _DNS_FAILURES):
        return NetworkError(f"cannot resolve host {host.rsplit(':', 1)[0]}", unsent=unsent)
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return NetworkError(
            f"connection refused by {host}", hint="is the server running?", unsent=unsent
        )
    if tls and "CERTIFICATE_VERIFY_FAILED" in text:
        # Refused in the handshake, before the request left: nothing can have been billed,
        # and asking again gets the same certificate.
        why = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0]
        return NetworkError(
            f"the certificate of {host} was refused: {why.strip(' )') or 'not trusted'}",
            hint="check the base URL; for a private CA set REQUESTS_CA_BUNDLE",
            unsent=True,
            lasting=True,
        )
    if tls:
        return NetworkError(f"TLS error talking to {host}", unsent=unsent)
    if unsent:
        return NetworkError(f"cannot reach {host}: {type(exc).__name__}", unsent=True)
    return NetworkError(f"the connection to {host} broke before an answer{maybe_billed}")


def unsendable_error(exc: BaseException, url: str, *, header: bool, bad_url: bool) -> AimlchatError:
    """A request refused while it was prepared (a header or URL that cannot be sent, a body
    that is not JSON): nothing left, so nothing was billed and sending again cannot help.
    A bad header is the key's (a config error); its text, which quotes it, is not shown."""
    if header:
        return ConfigError(
            "cannot send the request: a header holds characters HTTP does not allow",
            hint="check the API key (AIML_API_KEY, or `aimlchat key set`)",
        )
    if bad_url:
        return UsageError(f"cannot send the request: invalid URL {redact(url)}")
    return UsageError(f"cannot send the request: {redact(str(exc))[:200]}")


# How servers name a web search they refuse: the Chat Completions field
# (web_search_options, search_context_size), the Responses tool (web_search_preview), and
# plain words. Only an error naming the search is blamed on it: a 400 about the
# temperature of a request that also asked for a search is the server's own word.
_SEARCH_WORDS = ("web_search", "web search", "websearch", "search_context", "search context")
_SEARCH_MODELS = "pick a search model (perplexity/sonar, gpt-4o-search-preview)"
SEARCH_HINT = f"drop --web-search, or {_SEARCH_MODELS}"
# When the search came from config.toml, not from a flag of this run.
CONFIG_SEARCH_HINT = f"drop web_search in config.toml (or --web-search off), or {_SEARCH_MODELS}"


def search_refused(exc: ApiError, model: str, hint: str = SEARCH_HINT) -> ApiError | None:
    """A 4xx to a request that asked for a web search, said as what it is when its text
    names the search: the model does not search. None: some other error (auth, rate
    limit, not found, a parameter of its own), left as the server said it."""
    status = exc.status
    if status is None or not 400 <= status < 500 or status in (401, 403, 404, 408, 409, 429):
        return None
    if not any(word in exc.message.lower() for word in _SEARCH_WORDS):
        return None
    return ApiError(
        f"{model} does not support web search ({exc.message})",
        status=status,
        request_id=exc.request_id,
        hint=hint,
        code=exc.code,
    )


def search_refusals(source: Iterable[T], model: str, hint: str = SEARCH_HINT) -> Iterator[T]:
    """`source` (a reply's wire items), its 4xx said by `search_refused` when it is one."""
    try:
        yield from source
    except ApiError as exc:
        refused = search_refused(exc, model, hint)
        if refused is None:
            raise
        raise refused from None
