"""Which API shape a model gets: Chat Completions ("chat") or Responses ("responses").

In this order (`choose`, pure):
1. `--api chat|responses`;
2. `api = "..."` under `[models."ID"]` in config.toml;
3. the cached catalogue's `type`, when it names the responses endpoint
   (`openai/responses`); the catalogue is never fetched for this;
4. what a server taught us before, remembered per base URL and model;
5. Chat Completions.

The first two are the user's choice (`forced`): the server's answer then stands (its
error says what was chosen). Else, when `/chat/completions` answers a 4xx that says the
model answers only on the responses endpoint ("This model can only be called via the
/responses endpoint"; `names_responses`), the client asks once more on `/responses`, and
once that answers, says so on one line and the `Router` remembers it for the base URL,
so the next request goes straight there. A 4xx made no reply, so nothing is billed
twice. A remembered choice that `/responses` then refuses (404, 405, or a 4xx naming
chat/completions: a proxy changed, the model moved back) is forgotten and Chat
Completions asked once (`names_chat`).

An error message is trusted only where it does not repeat the request: a 400 that
echoes the user's own words ("input too long: … use the /responses endpoint …") sends
nothing anywhere (`sent_texts`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from aimlchat.api.adapters import APIS, CHAT, RESPONSES
from aimlchat.record import record

if TYPE_CHECKING:
    from aimlchat.api.adapters import ChatRequest

FILE_NAME = "apis.json"  # in the cache folder: {"BASE_URL": {"MODEL": "responses"}}

# What servers say: "This model can only be called via the /responses endpoint" (the
# AI/ML API), "This model is only supported in v1/responses and not in
# v1/chat/completions." (OpenAI, and LiteLLM passing it on), "use the Responses API",
# "only available via the /v1/responses endpoint". An "only …" or "use …" shape within
# one clause, never a bare mention: any 4xx may name /responses ("Cannot POST
# /v1/responses") or say responses ("streamed responses only support n=1"). The clause
# may not say "not" or "chat" before it ("only in v1/chat/completions, not v1/responses").
_CLAUSE = r"(?:(?!\.\s|\bnot\b|n't\b|chat)[^;\n])"
_RESPONSES = r"(?:/responses\b|\bresponses[\s_-]+(?:api|endpoint)\b)"
_NAMES_RESPONSES = re.compile(
    rf"\bonly\b{_CLAUSE}{{0,80}}?{_RESPONSES}|\buse\b{_CLAUSE}{{0,40}}?{_RESPONSES}",
    re.IGNORECASE,
)
# A remembered /responses refused by a 4xx that sends us to Chat Completions.
_NAMES_CHAT = re.compile(
    r"chat/completions\b|\bchat[\s_-]+completions[\s_-]+(?:api|endpoint)\b", re.IGNORECASE
)


@record(frozen=True)
class Route:
    api: str  # "chat" or "responses"
    why: str  # for --debug: "--api", "config.toml", "catalogue type X", "remembered", ...
    forced: bool = False  # the user's choice: no fallback
    remembered: bool = False  # a server's answer before: forgotten when it stops holding


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
        return Route(remembered, "a server's answer before, remembered", remembered=True)
    return Route(CHAT, "the default")


def is_responses_type(catalogue_type: str) -> bool:
    """Whether a catalogue `type` (`openai/responses`) names the responses endpoint."""
    return catalogue_type.rstrip("/").rsplit("/", 1)[-1].lower() == "responses"


def names_responses(message: str, sent: Iterable[str] = ()) -> bool:
    """Whether an error message says the model answers only on the responses endpoint,
    in words of the server's own, not ones it repeats from `sent` (the request's texts)."""
    return _said_by_server(_NAMES_RESPONSES, message, sent)


def names_chat(message: str, sent: Iterable[str] = ()) -> bool:
    """Whether an error message sends us to Chat Completions (in the server's own words)."""
    return _said_by_server(_NAMES_CHAT, message, sent)


def _said_by_server(pattern: re.Pattern[str], message: str, sent: Iterable[str]) -> bool:
    found = [m.group(0).casefold() for m in pattern.finditer(message)]
    if not found:
        return False
    texts = [text.casefold() for text in sent if text]
    return any(not any(phrase in text for text in texts) for phrase in found)


def sent_texts(request: ChatRequest) -> list[str]:
    """What the request itself says: the system prompt and every message's words."""
    texts = [request.system or ""]
    for message in request.messages:
        texts += [message.readable(), message.reasoning]
        texts += [call.arguments_text for call in message.calls]
    return texts


class Router:
    """One run's routing: the flag, config.toml and the cached catalogue, then the memory
    in the cache folder (read only when the file is there; a plain ask pays nothing).

    Shared by batch's worker threads: what one learns the others use at once, and a
    notice about a model is said once in the run, however many workers meet it."""

    def __init__(
        self,
        *,
        base_url: str,
        flag: str | None = None,
        configured: Callable[[str], str | None] = lambda model: None,
        catalogue_type: Callable[[str], str | None] = lambda model: None,
        memory: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")  # as the Client has it: one key per server
        self.flag = flag
        self.memory = memory
        self._configured = configured
        self._catalogue_type = catalogue_type
        self._learned: dict[str, str | None] = {}  # None: forgotten in this run
        self._said: set[tuple[str, str]] = set()
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
        """Keep what a server said (once it answered there) for the rest of this run and
        the next ones; whether it is written down (a read-only cache folder: this run)."""
        with self._lock:
            self._learned[model] = api
            if self.memory is None:
                return False
            from aimlchat import remembered

            return remembered.remember(self.memory, self.base_url, model, api)

    def forget(self, model: str) -> None:
        """Drop what was remembered for `model`: it no longer holds."""
        with self._lock:
            self._learned[model] = None
            if self.memory is not None and self.memory.exists():
                from aimlchat import remembered

                remembered.forget(self.memory, self.base_url, model)

    def first(self, model: str, what: str) -> bool:
        """Whether notice `what` about `model` is new in this run (then it is said)."""
        with self._lock:
            new = (model, what) not in self._said
            self._said.add((model, what))
            return new

    def _recall(self, model: str) -> str | None:
        if model in self._learned:
            return self._learned[model]
        if self.memory is None or not self.memory.exists():  # the common case
            return None
        from aimlchat import remembered

        api = remembered.recall(self.memory, self.base_url, model)
        return api if isinstance(api, str) else None
