"""Model lifecycle: the server's retirement feed (`GET /models/deprecations`) and what it
says about a model name.

The feed is cached per server (the cache folder, with its ETag) and asked again only
beside a catalogue fetch, at most once a day, or after a 404 for a model (at most once
per `RECHECK` seconds, the feed's own max-age); `aimlchat models --deprecated` always
asks. A plain `ask` never waits for it: it reads the cached copy when there is one. A
server without the feed (LiteLLM, llama.cpp, vLLM: a 4xx or a body that is not the feed)
is remembered as offering none for a day: no warnings, no repeated requests.

What a match means (a name is matched against each entry's `id` and `aliases`):
`deprecated` — one warning a day per model (remembered in the cache folder, for every
process), and the reply goes on; `superseded` — a note, as often, that the name now
resolves to `replaced_by`; `withdrawn` — refused before anything is sent (exit 2).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from aimlchat.errors import (
    AimlchatError,
    ApiError,
    NetworkError,
    RateLimitError,
    UsageError,
)
from aimlchat.record import record

DAY = 86400.0
RECHECK = 300.0  # after a 404: the feed's max-age, so a burst of 404s asks once
STATUSES = ("deprecated", "superseded", "withdrawn")
MEMORY_FILE = "deprecation-warnings.json"
RECORD = "record"  # the source of a batch record's own "model"
CHAT = "/model"  # the source of a model named in the chat REPL: its hint is `/model NAME`


@record(frozen=True)
class Entry:
    id: str
    aliases: tuple[str, ...] = ()
    status: str = ""  # deprecated | superseded | withdrawn; anything else: listed only
    deprecated_at: str | None = None
    shutdown_at: str | None = None
    replaced_by: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "status": self.status,
            "deprecated_at": self.deprecated_at,
            "shutdown_at": self.shutdown_at,
            "replaced_by": self.replaced_by,
            "reason": self.reason,
        }


@record(frozen=True)
class Advice:
    kind: str  # "warn" | "note" | "refuse"
    text: str
    hint: str | None = None


# -- pure: the feed's shape and what it says ----------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_feed(payload: Any) -> list[Entry] | None:
    """The feed's entries (`{"data": [...]}` or a bare list); None when `payload` is not a
    feed at all. An entry needs a string `id`; every other field may be missing."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        return None
    entries = []
    for item in items:
        if not isinstance(item, dict) or not _text(item.get("id")):
            continue
        aliases = item.get("aliases")
        entries.append(
            Entry(
                id=item["id"],
                aliases=tuple(a for a in aliases if _text(a)) if isinstance(aliases, list) else (),
                status=str(item.get("status") or "").lower(),
                deprecated_at=_text(item.get("deprecated_at")),
                shutdown_at=_text(item.get("shutdown_at")),
                replaced_by=_text(item.get("replaced_by")),
                reason=_text(item.get("reason")),
            )
        )
    return entries


def find(entries: list[Entry], name: str) -> Entry | None:
    """The entry whose id or alias is `name` (exactly, else ignoring case)."""
    for entry in entries:
        if name == entry.id or name in entry.aliases:
            return entry
    low = name.lower()
    for entry in entries:
        if low in (n.lower() for n in (entry.id, *entry.aliases)):
            return entry
    return None


def _subject(model: str, source: str | None) -> str:
    """How the model is named in a line: where it came from when not from `-m`."""
    if source == "config.toml":
        return f"the default model {model} (config.toml)"
    if source and source.startswith("role "):
        return f"{source}'s model {model}"
    if source == "default":
        return f"the built-in default model {model}"
    if source == RECORD:
        return f"the record's model {model}"
    if source and source.startswith("env "):
        return f"model {model} (from {source[4:]})"
    return f"model {model}"


def _instead(entry: Entry, source: str | None) -> str | None:
    new = entry.replaced_by
    if new is None:
        return None
    if source == "config.toml":
        return f'set model = "{new}" in config.toml'
    if source and source.startswith("role "):
        return f'set model = "{new}" in [roles.{source[5:]}]'
    if source == RECORD:
        return f'use "model": "{new}" in the record'
    if source == CHAT:
        return f"/model {new}"
    if source and source.startswith("env "):
        return f"set {source[4:]}={new}, or use -m {new}"
    return f"use -m {new}"


def advise(
    entry: Entry, model: str, source: str | None = None, *, today: str | None = None
) -> Advice | None:
    """What to say before sending to `model`, which `entry` matched; `source` is where the
    name came from (resolve's sources: "config.toml", "role NAME", "default", a flag);
    `today` (YYYY-MM-DD, UTC; default: now) tells a shutdown date past from one to come."""
    who = _subject(model, source)
    new = entry.replaced_by
    if entry.status == "withdrawn":
        when = entry.shutdown_at or entry.deprecated_at
        text = f"{who} was withdrawn" + (f" on {when}" if when else "")
        return Advice("refuse", text, _instead(entry, source))
    if entry.status == "superseded":
        if new is None:
            return Advice("note", f"{who} is superseded")
        return Advice("note", f"{who} is superseded: it now resolves to {new}")
    if entry.status == "deprecated":
        text = f"{who} is deprecated"
        today = today or time.strftime("%Y-%m-%d", time.gmtime())
        if entry.shutdown_at and entry.shutdown_at[:10] < today:  # the feed lags behind
            text += f" and was due to shut down on {entry.shutdown_at}; requests may fail"
        elif entry.shutdown_at:
            text += f" and shuts down on {entry.shutdown_at}"
        elif entry.deprecated_at:
            text += f" (since {entry.deprecated_at})"
        if new is not None:
            text += f"; use {new}"
        return Advice("warn", text)
    return None


def not_found_text(entry: Entry, model: str, source: str | None = None) -> tuple[str, str | None]:
    """What a 404 for `model` means, from its entry: (text, hint); `source` as `advise`."""
    hint = _instead(entry, source)
    if entry.status == "withdrawn":
        when = entry.shutdown_at or entry.deprecated_at
        return f"{model} was withdrawn" + (f" on {when}" if when else ""), hint
    when = entry.shutdown_at or entry.deprecated_at
    status = entry.status or "listed"
    return f"the deprecation feed lists {model} as {status}" + (
        f" (shutdown {when})" if when else ""
    ), hint


# -- the cached feed ----------------------------------------------------------------------


@record()
class Feed:
    entries: list[Entry]
    fetched_at: float
    etag: str | None = None
    offered: bool = True  # False: the server has no feed (remembered for a day)


class FeedAnswer(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def etag(self) -> str | None: ...

    @property
    def data(self) -> Any: ...


Fetch = Callable[[str | None], FeedAnswer]


def read_feed(path: Path) -> Feed | None:
    """The cached feed; None when there is none (or it cannot be read: a cache)."""
    try:
        obj = json.loads(path.read_bytes())
        fetched = float(obj["fetched_at"])
        if obj.get("none"):
            return Feed([], fetched, offered=False)
        entries = parse_feed(obj["payload"])
        etag = obj.get("etag")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if entries is None:
        return None
    return Feed(entries, fetched, etag if isinstance(etag, str) else None)


def _write(path: Path, obj: dict[str, Any]) -> None:
    from aimlchat.fsutil import atomic_write

    with contextlib.suppress(OSError):  # no cache folder: asked again next time
        atomic_write(path, json.dumps(obj).encode("utf-8"))


def _none(path: Path, now: float) -> Feed:
    _write(path, {"none": True, "fetched_at": now})
    return Feed([], now, offered=False)


def refresh(
    fetch: Fetch, path: Path, *, now: float, max_age: float = DAY, asked: bool = False
) -> Feed | None:
    """The feed, asked of the server (If-None-Match) when the cached copy is older than
    `max_age` (a server without one: a day), or always when `asked`. A server that
    cannot answer now (network, 5xx, 429) leaves the cache as it was; one that has no
    feed (another 4xx, a body that is no feed) is remembered as having none."""
    cached = read_feed(path)
    if cached is not None and not asked:
        limit = max_age if cached.offered else DAY
        if 0 <= now - cached.fetched_at < limit:
            return cached
    if not asked and _missed_lately(path, now):
        return cached  # it could not answer a moment ago: not asked again so soon
    etag = cached.etag if cached is not None and cached.offered else None
    try:
        answer = fetch(etag)
    except (NetworkError, RateLimitError):
        _missed(path, now)
        return cached
    except ApiError as exc:
        if exc.status is not None and exc.status >= 500:
            _missed(path, now)
            return cached
        return _none(path, now)  # a 4xx, or not JSON: this server has no feed
    except AimlchatError as exc:
        if exc.exit_code == 3:  # a server that wants a key even for this: no feed to us
            return _none(path, now)
        return cached
    with contextlib.suppress(OSError):
        _missed_file(path).unlink(missing_ok=True)
    if answer.status == 304 and cached is not None and cached.offered:
        _touch(path, now)
        return Feed(cached.entries, now, cached.etag)
    entries = parse_feed(answer.data)
    if entries is None:
        return _none(path, now)
    _write(path, {"etag": answer.etag, "fetched_at": now, "payload": answer.data})
    return Feed(entries, now, answer.etag)


def _missed_file(path: Path) -> Path:
    return path.with_name(path.name + ".missed")


def _missed(path: Path, now: float) -> None:
    """The server could not answer now (network, 5xx, 429): remembered for `RECHECK`
    seconds, for every process, so a run of 404s does not wait on it each time."""
    from aimlchat.fsutil import atomic_write

    with contextlib.suppress(OSError):
        atomic_write(_missed_file(path), repr(now).encode("ascii"))


def _missed_lately(path: Path, now: float) -> bool:
    try:
        then = float(_missed_file(path).read_text("ascii"))
    except (OSError, ValueError):
        return False
    return 0 <= now - then < RECHECK


def _touch(path: Path, now: float) -> None:
    """A 304: the cached copy is current as of `now`."""
    try:
        obj = json.loads(path.read_bytes())
        obj["fetched_at"] = now
    except (OSError, ValueError, TypeError):
        return
    _write(path, obj)


# -- one command's view of one server's feed ----------------------------------------------


class Lifecycle:
    """The feed of the server at `base_url` for one command: read once, on demand;
    warnings remembered a day per model in `memory_file` (every process sees them).
    Batch's workers share one: each method holds its lock."""

    def __init__(
        self,
        feed_file: Path,
        memory_file: Path,
        base_url: str,
        *,
        warn: Callable[[str], None],
        note: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.feed_file = feed_file
        self._memory = memory_file
        self._base_url = base_url
        self._warn = warn
        self._note = note
        self._clock = clock
        self._feed: Feed | None = None
        self._read = False
        self._lock = threading.RLock()

    def cached(self) -> Feed | None:
        with self._lock:
            if not self._read:
                self._feed, self._read = read_feed(self.feed_file), True
            return self._feed

    def refresh(self, fetch: Fetch, *, max_age: float = DAY, asked: bool = False) -> Feed | None:
        with self._lock:
            now = self._clock()
            self._feed = refresh(fetch, self.feed_file, now=now, max_age=max_age, asked=asked)
            self._read = True
            return self._feed

    def check(
        self,
        model: str,
        source: str | None = None,
        *,
        warn: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> bool:
        """Before sending to `model`: a withdrawn one is refused (UsageError); a deprecated
        one warned about, a superseded one noted, once a day each (by `warn` and `note`
        when given: batch's take its progress line away first). Whether the feed lists
        it (a model on its way out may have left the catalogue already)."""
        feed = self.cached()
        entry = find(feed.entries, model) if feed is not None else None
        if entry is None:
            return False
        today = time.strftime("%Y-%m-%d", time.gmtime(self._clock()))
        advice = advise(entry, model, source, today=today)
        if advice is None:
            return True
        if advice.kind == "refuse":
            raise UsageError(advice.text, hint=advice.hint)
        with self._lock:
            first = self._first_today(entry.id)
        if first:
            if advice.kind == "warn":
                (warn or self._warn)(advice.text)
            else:
                (note or self._note)(advice.text)
        return True

    def explain(self, model: str, exc: ApiError, fetch: Fetch, source: str | None = None) -> None:
        """A 404 for `model`: the feed (asked again unless just asked, or unless it could
        not answer a moment ago) says why, if it knows; `source` as `check`'s. Never
        raises: the 404 is the error the user gets. `fetch` should be quick (one attempt,
        a short timeout: Client.quick_deprecations): the error waits for it."""
        try:
            feed = self.refresh(fetch, max_age=RECHECK)  # one at a time: a burst asks once
        except AimlchatError:
            return
        entry = find(feed.entries, model) if feed is not None else None
        if entry is None:
            return
        text, hint = not_found_text(entry, model, source)
        exc.message = f"{exc.message}; {text}"
        exc.hint = hint or exc.hint

    def _first_today(self, model_id: str) -> bool:
        from aimlchat import remembered

        today = time.strftime("%Y-%m-%d", time.localtime(self._clock()))
        if remembered.recall(self._memory, self._base_url, model_id) == today:
            return False
        remembered.remember(self._memory, self._base_url, model_id, today)
        return True
