"""What the AI/ML API says beyond the OpenAI shapes: pure readers, no I/O.

Each section reads one endpoint's body (or one kind of header) into a record, tolerant
of missing or mistyped fields: a field the server did not send is None, never an error,
so another server's look-alike answer degrades instead of failing. The shapes are those
of the public API reference (billing-v2, usage-v2, usage-detail-v2).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aimlchat.record import record

if TYPE_CHECKING:
    from aimlchat.api.events import Charge

# Where the account's money is managed (the 403 "run out of credits" names it too).
BILLING_DASHBOARD = "https://aimlapi.com/app/billing"
BILLING_PATH = "/v2/billing"
USAGE_PATH = "/v2/usage"
USAGE_DETAIL_PATH = "/v2/usage/detail"
MAX_WINDOW_DAYS = 92  # the longest window /v2/usage measures


# -- fields -----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- the API's host ---------------------------------------------------------------------


def api_root(base_url: str) -> str:
    """The base URL without its trailing /v1: the /v2 account endpoints sit beside /v1
    on the same host (https://api.aimlapi.com/v1 -> https://api.aimlapi.com)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


# -- GET /v2/billing --------------------------------------------------------------------


@record(frozen=True)
class Balance:
    amount: float | None  # current_balance
    currency: str | None


def balance(body: Any) -> Balance | None:
    """`{current_balance, currency}`; None when the body is not that (another server)."""
    if not isinstance(body, dict) or "current_balance" not in body:
        return None
    return Balance(_number(body.get("current_balance")), _str(body.get("currency")))


# -- GET /v2/usage and /v2/usage/detail -------------------------------------------------


@record(frozen=True)
class Tokens:
    input: int | None
    output: int | None
    total: int | None


@record(frozen=True)
class UsageGroup:
    """One entry of `groups` (with `group_by`) or of `models` (always, in /detail)."""

    day: str | None
    model: str | None
    spend: float | None
    requests: int | None  # charged requests: the count that reconciles with the spend
    failed: int | None
    tokens: Tokens | None


@record(frozen=True)
class Usage:
    start: str | None  # the window the API measured, resolved to UTC (ISO-8601)
    end: str | None
    spend: float | None
    currency: str | None
    requests: int | None  # charged requests in the window
    models: tuple[UsageGroup, ...]  # /detail: per model, highest spend first
    groups: tuple[UsageGroup, ...]  # /detail with group_by: per day, model or both


def usage(body: Any) -> Usage | None:
    """A /v2/usage or /v2/usage/detail body; None when it has no `spend` (not this API)."""
    if not isinstance(body, dict) or "spend" not in body:
        return None
    return Usage(
        start=_str(body.get("start")),
        end=_str(body.get("end")),
        spend=_number(body.get("spend")),
        currency=_str(body.get("currency")),
        requests=_int(body.get("requests")),
        models=tuple(_group(m) for m in _dicts(body.get("models"))),
        groups=tuple(_group(g) for g in _dicts(body.get("groups"))),
    )


def _group(obj: dict[str, Any]) -> UsageGroup:
    requests = obj.get("requests")
    if isinstance(requests, dict):  # groups: {total, charged, succeeded, failed}
        charged, failed = _int(requests.get("charged")), _int(requests.get("failed"))
    else:  # models: a plain count of charged requests
        charged, failed = _int(requests), None
    tokens = obj.get("tokens")
    return UsageGroup(
        day=_str(obj.get("day")),
        model=_str(obj.get("model")),
        spend=_number(obj.get("spend")),
        requests=charged,
        failed=failed,
        tokens=(
            Tokens(_int(tokens.get("input")), _int(tokens.get("output")), _int(tokens.get("total")))
            if isinstance(tokens, dict)
            else None
        ),
    )


# -- the charge and ids of a reply -----------------------------------------------------
# A reply's charge comes in `meta.usage` (a stream's last chunk, or a whole body) or, on
# a whole JSON reply, in headers; its ids in headers (request-tracing-and-cost).

REQUEST_ID_HEADER = "X-Client-Request-Id"  # ours, sent; echoed as x-client-request-id
INFERENCE_ID_HEADER = "x-inference-id"  # the API's: the id its charge is recorded under
USD_HEADER = "x-aimlapi-usd-spent"
CREDITS_HEADER = "x-aimlapi-credits-used"
MAX_REQUEST_ID = 128
# Room kept below the limit for the suffix a re-sent request gets (`.2`, `:r3`).
_ID_ROOM = 16
_NOT_ID = re.compile(r"[^A-Za-z0-9._:-]+")


def _amount(value: Any) -> float | None:
    """A charge: a finite number at least 0, or such a number as a string ("0.001240000")."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    number = _number(value)
    return number if number is not None and math.isfinite(number) and number >= 0 else None


def _credits(value: Any) -> int | None:
    amount = _amount(value)
    return int(amount) if amount is not None else None


def meta_charge(obj: Any) -> Charge | None:
    """`{"meta": {"usage": {"credits_used", "usd_spent"}}}` in a chunk, an event or a body
    (top level, or inside a Responses event's `response`); None when it says no charge."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("meta")
    if not isinstance(meta, dict):
        inner = obj.get("response")
        meta = inner.get("meta") if isinstance(inner, dict) else None
    usage = meta.get("usage") if isinstance(meta, dict) else None
    if not isinstance(usage, dict):
        return None
    return _charge(usage.get("usd_spent"), usage.get("credits_used"))


def header_charge(headers: Mapping[str, str]) -> Charge | None:
    """The cost headers of a whole JSON reply; None when neither is sent (or usable)."""
    return _charge(_header(headers, USD_HEADER), _header(headers, CREDITS_HEADER))


def _charge(usd: Any, credits: Any) -> Charge | None:
    from aimlchat.api.events import Charge

    amount, count = _amount(usd), _credits(credits)
    return None if amount is None and count is None else Charge(amount, count)


def inference_id(headers: Mapping[str, str]) -> str | None:
    return _header_id(headers, INFERENCE_ID_HEADER)


def echoed_request_id(headers: Mapping[str, str]) -> str | None:
    return _header_id(headers, REQUEST_ID_HEADER)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (a plain dict's keys keep the server's)."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value if isinstance(value, str) else None


def _header_id(headers: Mapping[str, str], name: str) -> str | None:
    value = (_header(headers, name) or "").strip()
    # An id is shown and stored: a server's control characters or a page of text are not.
    return value if value and len(value) <= 256 and value.isprintable() else None


def request_id(*pieces: str | int, run: str | None = None) -> str:
    """An `X-Client-Request-Id` from its pieces (`aimlchat`, `c42`, `m317`) and a per-run
    part (`run`, else this process's `run_tag`), joined by `:` (`aimlchat:c42:m317:k3f9`):
    what the API accepts (1-128 of A-Z a-z 0-9 . _ : -; it drops anything else silently),
    any other character made `-`. The run part makes it unique across runs (a batch's
    item 1 in every batch, a /retry in a new process). Too long, the pieces are cut,
    never the run part, and room is left for a re-send's suffix (`:r2`, `.2`)."""
    tail = ":" + _NOT_ID.sub("-", run if run is not None else run_tag())
    text = ":".join(_NOT_ID.sub("-", str(p)) for p in pieces if str(p) != "")
    return (text[: MAX_REQUEST_ID - _ID_ROOM - len(tail)] or "aimlchat") + tail


def sendable_id(value: str | None) -> str:
    """The id a request goes under: `value` as it is when the API takes it and a
    re-send's suffix still fits; else one made from it (or, with none, a random one)."""
    if value is not None and valid_request_id(value) and len(value) <= MAX_REQUEST_ID - _ID_ROOM:
        return value
    return request_id(value or "aimlchat", run=run_id())


def resent_id(base: str, attempt: int) -> str:
    """The id of the `attempt`-th HTTP request (1-based) made for one `base` id: the
    first keeps it, the others are `base.2`, `base.3`: each distinct, all traceable."""
    suffix = f".{attempt}" if attempt > 1 else ""
    return base[: MAX_REQUEST_ID - len(suffix)] + suffix


def run_id() -> str:
    """A short random id for requests with no conversation to name (no history)."""
    import secrets

    return secrets.token_hex(4)


_TAG: list[str] = []
_TAG_LOCK = threading.Lock()


def run_tag() -> str:
    """This process's part of every request id: 6 random hex digits, made once (under a
    lock: batch's workers ask for it at the same moment)."""
    with _TAG_LOCK:
        if not _TAG:
            import secrets

            _TAG.append(secrets.token_hex(3))
        return _TAG[0]


def valid_request_id(value: str) -> bool:
    """What the API keeps: 1-128 of A-Z a-z 0-9 . _ : - (anything else is dropped)."""
    return 0 < len(value) <= MAX_REQUEST_ID and _NOT_ID.search(value) is None


# -- errors -----------------------------------------------------------------------------


def out_of_credits(message: str) -> bool:
    """The 403 the API sends when the balance is spent ("You've run out of credits")."""
    return "out of credits" in message.lower()
