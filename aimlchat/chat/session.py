"""One conversation with the model: its context, its history rows, and running a turn.

Used by `ask` and by the REPL alike. The transport yields deltas; the sink shows them;
this module keeps the text, so a reply cut short by Ctrl-C, SIGTERM, a dropped
connection or a closed pipe is still saved, marked for what happened to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aimlchat.api.client import Client, completion_events
from aimlchat.api.sse import ChatEvent, Delta, Finish, Usage
from aimlchat.chat.conversation import Message, build_body
from aimlchat.errors import AimlchatError, StoreError
from aimlchat.storage.store import Store
from aimlchat.terminal.output import Sink

CHOICE_SEPARATOR = "\n\n---\n\n"


@dataclass
class TurnResult:
    text: str
    usage: Usage | None = None
    finish_reason: str | None = None
    status: str = "ok"


@dataclass
class Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    turns: int = 0

    def add(self, usage: Usage | None, cost: float | None) -> None:
        self.turns += 1
        if usage is None:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost


@dataclass
class Settings:
    """What a turn sends besides the messages; the REPL changes these as it goes."""

    model: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    stream: bool = True


class Chat:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        *,
        store: Store | None,
        warn: Callable[[str], None],
        conversation_id: int | None = None,
        name: str | None = None,
        price: Callable[[str, Usage], float | None] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.store = store
        self._warn = warn
        self._price = price
        self.conversation_id = conversation_id
        self.name = name
        self.messages: list[Message] = []
        self.message_ids: list[int | None] = []
        self.statuses: list[str] = []
        self.totals = Totals()
        self.last_response: dict[str, Any] | None = None  # the raw non-streamed reply
        self.unsent: Message | None = None  # a message that got no reply at all
        if store is not None and conversation_id is not None:
            self._load(conversation_id)

    # -- persistence, never fatal --------------------------------------------------------

    def _persist(self, action: Callable[[Store], Any]) -> Any:
        if self.store is None:
            return None
        try:
            return action(self.store)
        except StoreError as exc:
            self._warn(f"{exc.message}; history is not being saved")
            self.store = None
            return None

    def _load(self, conversation_id: int) -> None:
        assert self.store is not None
        info = self.store.info(conversation_id)
        if info is None:
            raise StoreError(f"no conversation {conversation_id}")
        self.name = info.name
        if info.model:
            self.settings.model = info.model
        if info.system is not None and self.settings.system is None:
            self.settings.system = info.system
        for row in self.store.messages(conversation_id):
            self.messages.append(row.for_api())
            self.message_ids.append(row.id)
            self.statuses.append(row.status)

    def _ensure_conversation(self) -> int | None:
        if self.conversation_id is None:
            self.conversation_id = self._persist(
                lambda s: s.create(
                    model=self.settings.model, system=self.settings.system, name=self.name
                )
            )
        return self.conversation_id

    def _append(
        self, message: Message, *, status: str = "ok", usage: tuple[int, int] | None = None
    ) -> None:
        cid = self._ensure_conversation()
        mid = None
        if cid is not None:
            mid = self._persist(
                lambda s: s.add(
                    cid,
                    message["role"],
                    message["content"],
                    status=status,
                    model=self.settings.model if message["role"] == "assistant" else None,
                    usage=usage,
                )
            )
        self.messages.append(message)
        self.message_ids.append(mid)
        self.statuses.append(status)

    def _drop_last(self, status: str) -> Message | None:
        if not self.messages:
            return None
        message = self.messages.pop()
        mid = self.message_ids.pop()
        self.statuses.pop()
        if mid is not None:
            self._persist(lambda s: s.set_status(mid, status))
        return message

    def settings_changed(self) -> None:
        cid = self.conversation_id
        if cid is not None:
            self._persist(
                lambda s: s.update(cid, model=self.settings.model, system=self.settings.system)
            )

    # -- turns -------------------------------------------------------------------------

    def send(
        self, message: Message, sink: Sink, observe: Callable[[ChatEvent], None] | None = None
    ) -> TurnResult:
        self._append(message)
        return self._reply(sink, observe)

    def retry(self, sink: Sink) -> TurnResult:
        """Regenerate the last reply (the old one is kept in history, marked replaced)."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            self._drop_last("replaced")
        if not self.messages or self.messages[-1]["role"] != "user":
            raise AimlchatError("nothing to retry")
        return self._reply(sink)

    def undo(self) -> bool:
        """Drop the last exchange from the conversation (history keeps it, marked undone)."""
        if not self.messages:
            return False
        if self.messages[-1]["role"] == "assistant":
            self._drop_last("undone")
        if self.messages and self.messages[-1]["role"] == "user":
            self._drop_last("undone")
        return True

    def body(self) -> dict[str, Any]:
        s = self.settings
        stream = s.stream and int(s.params.get("n") or 1) == 1
        return build_body(
            model=s.model,
            messages=self.messages,
            params=s.params,
            stream=stream,
            system=s.system,
            response_format=s.response_format,
        )

    def _events(self, body: dict[str, Any]) -> Any:
        if body["stream"]:
            return self.client.stream_chat(body)
        self.last_response = self.client.complete(body)
        return iter(completion_events(self.last_response))

    def _reply(self, sink: Sink, observe: Callable[[ChatEvent], None] | None = None) -> TurnResult:
        body = self.body()
        self.unsent = None
        choices: dict[int, list[str]] = {}
        result = TurnResult(text="")
        shown = False
        try:
            for event in self._events(body):
                self._take(event, choices, result)
                if observe is not None:
                    observe(event)
                if isinstance(event, Delta) and event.index == 0 and body["stream"]:
                    sink.feed(event.text)
                    shown = True
            if not body["stream"]:
                text = CHOICE_SEPARATOR.join("".join(choices[i]) for i in sorted(choices))
                sink.feed(text)
                shown = bool(text)
        except BaseException as exc:
            text = "".join(choices.get(0, []))
            status = "incomplete" if isinstance(exc, AimlchatError) else "interrupted"
            if shown:
                with contextlib.suppress(OSError):  # the pipe is gone; text is saved below
                    sink.finish(interrupted=True)
            if text:
                self._append({"role": "assistant", "content": text}, status=status)
            else:
                self._fail_last_user()
            raise
        sink.finish()
        result.text = "".join(choices.get(0, []))
        usage = (
            (result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
        )
        self._append({"role": "assistant", "content": result.text}, usage=usage)
        cost = (
            self._price(self.settings.model, result.usage) if self._price and result.usage else None
        )
        self.totals.add(result.usage, cost)
        return result

    @staticmethod
    def _take(event: ChatEvent, choices: dict[int, list[str]], result: TurnResult) -> None:
        if isinstance(event, Delta):
            choices.setdefault(event.index, []).append(event.text)
        elif isinstance(event, Usage):
            result.usage = event
        elif isinstance(event, Finish) and event.index == 0:
            result.finish_reason = event.reason

    def _fail_last_user(self) -> None:
        # No reply at all: keep the message in history but out of the context, so the
        # next turn does not send two user messages in a row.
        if self.messages and self.messages[-1]["role"] == "user":
            self.unsent = self._drop_last("failed")

    def last_reply(self) -> str | None:
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                content = message["content"]
                return content if isinstance(content, str) else None
        return None

    def cost_of(self, usage: Usage | None) -> float | None:
        if usage is None or self._price is None:
            return None
        return self._price(self.settings.model, usage)
