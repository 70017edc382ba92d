"""Which API shape a model gets: Chat Completions ("chat") or Responses ("responses").

In this order (`choose`, pure):
1. `--api chat|responses`;
2. `api = "..."` under `[models."ID"]` in config.toml;
3. the cached catalogue's `type`, when it names the responses endpoint
   (`openai/responses`); the catalogue is never fetched for this;
4. what a server taught us before, remembered per base URL and model;
5. Chat Completions.

The first two are the user's choice (`forced`): the server's answer then stands. Else,
when `/chat/completions` answers a 4xx naming the responses endpoint ("This model can
only be called via the /responses endpoint"), the client asks once more on `/responses`
(`names_responses`), says so on one line, and the `Router` remembers it for the base
URL, so the next request goes straight there. A 4xx made no reply, so nothing is billed
twice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from aimlchat.api.adapters import APIS, CHAT, RESPONSES
from aimlchat.record import record

FILE_NAME = "apis.json"  # in the cache folder: {"BASE_URL": {"MODEL": "responses"}}

# "/responses", "v1/responses", "the Responses API", "responses endpoint": not a bare
# "responses", which any error may say ("model responses were cut").
_NAMES_RESPONSES = re.compile(
    r"(?:/responses\b|\bresponses[\s_-]+(?:api|endpoint)\b|\bresponses[\s_-]+only\b)",
    re.IGNORECASE,
)


@record(frozen=True)
class Route:
    api: str  # "chat" or "responses"
    why: str  # for --debug: "--api", "config.toml", "catalogue type X", "remembered", ...
    forced: bool = False  # the user's choice: no fallback


def choose(
    *,
    flag: str | None = None,
    config: str | None = None,
    catalogue_type: str | None = None,
    remembered: str | None = None,
) -> Route:
    """The API for one model from what is known about it, first given wins."""
    if flag in APIS:
        return Route(flag, "--api", forced=True)
    if config in APIS:
        return Route(config, "config.toml", forced=True)
    if catalogue_type and is_responses_type(catalogue_type):
        return Route(RESPONSES, f"catalogue type {catalogue_type}")
    if remembered in APIS:
        return Route(remembered, "a server's answer before, remembered")
    return Route(CHAT, "the default")


def is_responses_type(catalogue_type: str) -> bool:
    """Whether a catalogue `type` (`openai/responses`) names the responses endpoint."""
    return catalogue_type.rstrip("/").rsplit("/", 1)[-1].lower() == "responses"


def names_responses(message: str) -> bool:
    """Whether an error message sends us to the responses endpoint."""
    return _NAMES_RESPONSES.search(message) is not None


class Router:
    """One run's routing: the flag, config.toml and the cached catalogue, then the memory
    in the cache folder (read only when the file is there; a plain ask pays nothing).

    Shared by batch's worker threads: what one learns the others use at once."""

    def __init__(
        self,
        *,
        base_url: str,
        flag: str | None = None,
        configured: Callable[[str], str | None] = lambda model: None,
        catalogue_type: Callable[[str], str | None] = lambda model: None,
        memory: Path | None = None,
    ) -> None:
        self.base_url = base_url
        self.flag = flag
        self._configured = configured
        self._catalogue_type = catalogue_type
        self._memory = memory
        self._learned: dict[str, str] = {}
        self._lock = threading.Lock()

    def route(self, model: str) -> Route:
        if self.flag in APIS:  # nothing else need be read
            return choose(flag=self.flag)
        return choose(
            config=self._configured(model),
            catalogue_type=self._catalogue_type(model),
            remembered=self._recall(model),
        )

    def learn(self, model: str, api: str) -> bool:
        """Keep what a server said for the rest of this run and the next ones; whether it
        is written down (a read-only cache folder: only for this run)."""
        with self._lock:
            self._learned[model] = api
            if self._memory is None:
                return False
            from aimlchat import remembered

            return remembered.remember(self._memory, self.base_url, model, api)

    def _recall(self, model: str) -> str | None:
        if model in self._learned:
            return self._learned[model]
        if self._memory is None or not self._memory.exists():  # the common case
            return None
        from aimlchat import remembered

        api = remembered.recall(self._memory, self.base_url, model)
        return api if isinstance(api, str) else None
