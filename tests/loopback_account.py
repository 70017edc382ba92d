"""The AI/ML API's account endpoints for the loopback server: GET /v2/billing, /v2/usage
and /v2/usage/detail, beside /v1 on the same host, in the shapes of the API reference
(billing-v2, usage-v2, usage-detail-v2).

`server.account` maps a path to what it answers: a body (a dict), a `Reply`, or a
function of the query (`{name: [values]}`) giving either. A path taken out (or
`server.account = {}`) answers 404, as a server without these endpoints does.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

BALANCE = 123.45
# Per model in the window: spend (USD), charged requests, input and output tokens.
MODEL_SPEND = [
    ("openai/gpt-5", 8.12, 500, 128400, 51200),
    ("meta-llama/llama-4-scout", 4.2256, 342, 90100, 20300),
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def _window(query: dict[str, list[str]]) -> tuple[datetime, datetime]:
    """The window asked for, resolved to UTC as the API echoes it."""
    if "period" in query:
        n, unit = re.fullmatch(r"(\d+)([hd])", query["period"][0]).groups()  # type: ignore[union-attr]
        end = datetime.now(timezone.utc)
        return end - (timedelta(hours=int(n)) if unit == "h" else timedelta(days=int(n))), end

    def read(text: str) -> datetime:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    return read(query["start"][0]), read(query["end"][0])


def usage(query: dict[str, list[str]]) -> dict[str, Any]:
    start, end = _window(query)
    return {
        "api_key_prefix": None,
        "start": _iso(start),
        "end": _iso(end),
        "spend": round(sum(m[1] for m in MODEL_SPEND), 6),
        "currency": "USD",
        "requests": sum(m[2] for m in MODEL_SPEND),
    }


def _group(spend: float, requests: int, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "spend": spend,
        "tokens": {"input": tokens_in, "output": tokens_out, "total": tokens_in + tokens_out},
        "requests": {
            "total": requests + 2,
            "charged": requests,
            "succeeded": requests,
            "failed": 2,
        },
    }


def usage_detail(query: dict[str, list[str]]) -> dict[str, Any]:
    body = usage(query)
    body["models"] = [{"model": m, "spend": s, "requests": r} for m, s, r, _, _ in MODEL_SPEND]
    by = query.get("group_by", [None])[0]
    if by == "model":
        body["groups"] = [{"model": m, **_group(s, r, i, o)} for m, s, r, i, o in MODEL_SPEND]
    elif by == "day":  # the whole spend on the window's last day, none the day before
        last = datetime.fromisoformat(body["end"].replace("Z", "+00:00")).date()
        body["groups"] = [
            {"day": str(last - timedelta(days=1)), **_group(0, 0, 0, 0)},
            {"day": str(last), **_group(body["spend"], body["requests"], 218500, 71500)},
        ]
    return body


def default_account() -> dict[str, Any]:
    return {
        "/v2/billing": {"current_balance": BALANCE, "currency": "USD"},
        "/v2/usage": usage,
        "/v2/usage/detail": usage_detail,
    }
