"""The AI/ML API's charge and request tracing, for the loopback server
(request-tracing-and-cost): with `server.charges` set, every chat reply gets

- `x-inference-id` (a counter: `inf-1`, `inf-2`, …) and, when the request sent a valid
  `X-Client-Request-Id`, its echo in `x-client-request-id`;
- a streamed reply: `"meta": {"usage": {"credits_used", "usd_spent"}}` on its last chunk
  (Chat Completions), or on its `response.completed` event (Responses: at the top of the
  event, or inside its `response` with `charges = "nested"`);
- a whole JSON reply: the `x-aimlapi-usd-spent` and `x-aimlapi-credits-used` headers.

Off (`server.charges = None`, the default) none of it is sent: what LiteLLM, vLLM or
llama.cpp do, and what every other test expects.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

USD = 0.00124  # what each reply costs, unless the server is told otherwise
CREDITS = 2480
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ENDS = ("response.completed", "response.incomplete", "response.failed")


def meta(usd: float = USD, credits: int = CREDITS) -> dict[str, Any]:
    return {"usage": {"credits_used": credits, "usd_spent": usd}}


def charged(reply: Any, request: dict[str, Any], n: int, shape: str, usd: float = USD) -> Any:
    """`reply` (a loopback `Reply`, shaped) as the AI/ML API sends it: ids in the headers,
    its charge where it goes. `n`: the reply's number (its inference id); `shape`:
    "top" or "nested" (where a Responses stream's charge sits)."""
    headers = {**reply.headers, "x-inference-id": f"inf-{n}"}
    sent = _header(request, "X-Client-Request-Id")
    if sent is not None and _VALID_ID.fullmatch(sent):
        headers["x-client-request-id"] = sent
    if reply.status >= 400:
        return dataclasses.replace(reply, headers=headers)
    if reply.events is not None:
        return dataclasses.replace(
            reply, headers=headers, events=_last_charged(reply.events, shape, usd)
        )
    if isinstance(reply.body, dict):
        headers["x-aimlapi-usd-spent"] = f"{usd:.9f}"
        headers["x-aimlapi-credits-used"] = str(round(usd * 2_000_000))
    return dataclasses.replace(reply, headers=headers)


def _header(request: dict[str, Any], name: str) -> str | None:
    for key, value in (request.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _last_charged(events: list[str], shape: str, usd: float) -> list[str]:
    """The events with the charge on the last JSON one (a Responses stream's end event)."""
    out = list(events)
    for at in range(len(out) - 1, -1, -1):
        head, sep, data = out[at].rpartition("data: ")
        try:
            obj = json.loads(data)
        except ValueError:
            continue  # [DONE]
        if not isinstance(obj, dict):
            continue
        if obj.get("type") in _ENDS and shape == "nested" and isinstance(obj.get("response"), dict):
            obj["response"] = {**obj["response"], "meta": meta(usd, round(usd * 2_000_000))}
        else:
            obj["meta"] = meta(usd, round(usd * 2_000_000))
        out[at] = f"{head}{sep}{json.dumps(obj)}\n\n"
        return out
    return out
