"""What the AI/ML API says beyond the OpenAI shapes: pure readers, no I/O.

Each section reads one endpoint's body (or one kind of header) into a record, tolerant
of missing or mistyped fields: a field the server did not send is None, never an error,
so another server's look-alike answer degrades instead of failing. The shapes are those
of the public API reference (billing-v2, usage-v2, usage-detail-v2).
"""

from __future__ import annotations

from typing import Any

from aimlchat.record import record

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


# -- errors -----------------------------------------------------------------------------


def out_of_credits(message: str) -> bool:
    """The 403 the API sends when the balance is spent ("You've run out of credits")."""
    return "out of credits" in message.lower()
