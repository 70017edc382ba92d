"""The live model catalogue: fetch `GET /models`, cache it with its ETag, price replies."""

from __future__ import annotations

import contextlib
import difflib
import json
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from aimlchat.errors import AimlchatError, ApiError
from aimlchat.fsutil import atomic_write
from aimlchat.record import record


@record(frozen=True)
class Model:
    id: str
    name: str = ""
    type: str = ""
    developer: str = ""
    context: int | None = None
    output_max: int | None = None
    aliases: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    # USD per single token; None where the catalogue quotes no fixed token price.
    input_price: float | None = None
    output_price: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_chat(self) -> bool:
        """A model that chats, on Chat Completions or only on Responses (api.route)."""
        return not self.type or self.type.endswith(("chat-completions", "/responses"))

    @property
    def vision(self) -> bool:
        return "image" in self.input_modalities or "vision" in self.capabilities

    def matches(self, needle: str) -> bool:
        needle = needle.lower()
        return any(needle in s.lower() for s in (self.id, self.name, *self.aliases))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token_prices(pricing: Any) -> tuple[float | None, float | None]:
    """Per-token input and output prices: always `price / per`, `per` varies."""
    if not isinstance(pricing, dict) or pricing.get("kind", "fixed") != "fixed":
        return None, None
    prices: dict[str, float] = {}
    for unit in pricing.get("units") or []:
        if not isinstance(unit, dict):
            continue
        measure, price, per = unit.get("measure"), unit.get("price"), unit.get("per") or 1
        name = str(unit.get("name", "")).lower()
        if "token" not in name and name:
            continue
        if measure in ("input", "output") and isinstance(price, (int, float)) and per:
            prices.setdefault(str(measure), float(price) / float(per))
    return prices.get("input"), prices.get("output")


def parse_models(payload: Any) -> list[Model]:
    """Read the AIML shape and the plain OpenAI shape ({id, object, owned_by}) alike."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ApiError("invalid model list from server: no 'data' array")
    models = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        info: dict[str, Any] = item["info"] if isinstance(item.get("info"), dict) else {}
        modalities: dict[str, Any] = (
            item["modalities"] if isinstance(item.get("modalities"), dict) else {}
        )
        inp, out = _token_prices(item.get("pricing"))
        models.append(
            Model(
                id=item["id"],
                name=str(info.get("name") or ""),
                type=str(item.get("type") or ""),
                developer=str(info.get("developer") or item.get("owned_by") or ""),
                context=_int(info.get("contextLength")),
                output_max=_int(info.get("outputMax")),
                aliases=tuple(a for a in item.get("aliases") or [] if isinstance(a, str)),
                input_modalities=tuple(str(m) for m in modalities.get("input") or []),
                capabilities=tuple(str(c) for c in item.get("capabilities") or []),
                input_price=inp,
                output_price=out,
                raw=item,
            )
        )
    return models


@record()
class Cached:
    etag: str | None
    fetched_at: float
    payload: Any


def read_cache(path: Path) -> Cached | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return Cached(obj.get("etag"), float(obj.get("fetched_at", 0)), obj["payload"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a cache is disposable: a broken one is just a miss


def write_cache(path: Path, cached: Cached) -> None:
    data = {"etag": cached.etag, "fetched_at": cached.fetched_at, "payload": cached.payload}
    atomic_write(path, json.dumps(data).encode("utf-8"))


@record()
class Listing:
    models: list[Model]
    from_cache: bool  # True when the server could not be asked
    revalidated: bool  # True when the server answered 304


def load_catalogue(
    fetch: Callable[[str | None], Any],
    path: Path,
    notice: Callable[[str], None],
) -> Listing:
    """Ask the server (with If-None-Match); fall back to the cache when it cannot answer."""
    cached = read_cache(path)
    try:
        resp = fetch(cached.etag if cached else None)
    except AimlchatError as exc:
        if cached is None:
            raise
        age = time.time() - cached.fetched_at
        notice(f"{exc.message}; showing the cached list from {_age(age)} ago")
        return Listing(parse_models(cached.payload), True, False)
    if resp.status == 304 and cached is not None:
        cached.fetched_at = time.time()
        _try_write(path, cached)
        return Listing(parse_models(cached.payload), False, True)
    models = parse_models(resp.data)
    _try_write(path, Cached(resp.etag, time.time(), resp.data))
    return Listing(models, False, False)


def _try_write(path: Path, cached: Cached) -> None:
    with contextlib.suppress(OSError):  # no cache dir: the list still shows
        write_cache(path, cached)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def cached_models(path: Path) -> list[Model] | None:
    cached = read_cache(path)
    if cached is None:
        return None
    try:
        return parse_models(cached.payload)
    except ApiError:
        return None


def find_model(models: list[Model], name: str) -> Model | None:
    for model in models:
        if model.id == name or name in model.aliases:
            return model
    return None


def closest(models: list[Model], name: str, n: int = 3) -> list[str]:
    """Chat models named like `name`: what `-m` meant (an image model would not answer)."""
    chat = [m for m in models if m.is_chat]
    names = [m.id for m in chat] + [a for m in chat for a in m.aliases]
    return difflib.get_close_matches(name, names, n=n, cutoff=0.4)


def text_only(models: list[Model], name: str) -> bool:
    """Whether the catalogue says the model takes no image input (a listing without
    modalities says nothing)."""
    model = find_model(models, name)
    return model is not None and bool(model.input_modalities) and not model.vision


def cost(model: Model | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    if model is None or model.input_price is None or model.output_price is None:
        return None
    return prompt_tokens * model.input_price + completion_tokens * model.output_price
