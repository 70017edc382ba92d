"""The AI/ML API's model retirement feed for the loopback server: GET
/v1/models/deprecations, in the shape of its reference (service-endpoints/model-deprecations),
with a weak ETag that changes with the entries, and 304 for If-None-Match.

`server.deprecations` is the list of entries it serves (change it to change the feed and
its ETag); None answers 404, as LiteLLM, llama.cpp and vLLM do.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DEPRECATED = "openai/gpt-4o-2024-05-13"
SUPERSEDED = "meta-llama/Llama-3-70b-chat-hf"
WITHDRAWN = "openai/gpt-4-0613"


def default_deprecations() -> list[dict[str, Any]]:
    """One entry of each status, each with a successor in the loopback's catalogue."""
    return [
        {
            "id": DEPRECATED,
            "aliases": ["gpt-4o-2024-05-13"],
            "status": "deprecated",
            "deprecated_at": "2026-05-01",
            "shutdown_at": "2026-09-30",
            "replaced_by": "openai/gpt-4o",
            "reason": "provider_delisted",
        },
        {
            "id": SUPERSEDED,
            "aliases": ["llama-3-70b"],
            "status": "superseded",
            "deprecated_at": "2026-02-01",
            "shutdown_at": None,
            "replaced_by": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "reason": "consolidated",
        },
        {
            "id": WITHDRAWN,
            "aliases": ["gpt-4-0613"],
            "status": "withdrawn",
            "deprecated_at": "2025-12-01",
            "shutdown_at": "2026-06-01",
            "replaced_by": "openai/gpt-4o",
            "reason": "provider_delisted",
        },
    ]


def etag(entries: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:12]
    return f'W/"deprecations-{digest}"'


def feed_answer(
    entries: list[dict[str, Any]] | None, if_none_match: str | None
) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    """(status, JSON body or None, headers) for one GET of the feed."""
    if entries is None:
        return 404, {"message": "Cannot GET /v1/models/deprecations", "statusCode": 404}, {}
    tag = etag(entries)
    headers = {"ETag": tag, "Cache-Control": "max-age=300"}
    if if_none_match == tag:
        return 304, None, headers
    body = {"object": "list", "generated_at": "2026-08-01T00:00:00.000Z", "data": entries}
    return 200, body, headers
