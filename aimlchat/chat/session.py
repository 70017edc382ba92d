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

from aimlchat.api.client import Client
from aimlchat.api.protocol import ChatEvent, TextDelta, Usage
from aimlchat.api.response import Response
from aimlchat.chat.conversation import Message, build_body
from aimlchat.errors import AimlchatError, ApiError, StoreError
from aimlchat.storage.store import Store
from aimlchat.terminal.output import Sink

CHOICE_SEPARATOR = "\n\n---\n\n"


@dataclass
class TurnResult:
    response: Response  # the raw reply: every choice, its JSON
    text: str  # choice 0, the conversation's reply
    usage: Usage | None = None
    finish_reason: str | None = None
    status: str = "ok"


class ReplyFiltered(ApiError):
    """`finish_reason: content_filter`: an error, though the text so far is shown and kept."""

    def __init__(self, result: TurnResult) -> None:
        kept = "; the partial reply is kept" if result.text else " before any text"
        super().__init__(f"the provider's content filter stopped the reply{kept}")
        self.result = result


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
        mid = self._record(message, status=status, usage=usage)
        self.messages.append(message)
        self.message_ids.append(mid)
        self.statuses.append(status)

    def _record(
        self, message: Message, *, status: str, usage: tuple[int, int] | None = None
    ) -> int | None:
        """A row in history only; `_append` also puts it in the context."""
        cid = self._ensure_conversation()
        if cid is None:
            return None
        result: int | None = self._persist(
            lambda s: s.add(
                cid,
                message["role"],
                message["content"],
                status=status,
                model=self.settings.model if message["role"] == "assistant" else None,
                usage=usage,
            )
        )
        return result

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

    def _reply(self, sink: Sink, observe: Callable[[ChatEvent], None] | None = None) -> TurnResult:
        response = self.client.chat(self.body())
        self.unsent = None
        shown = False
        try:
            for event in response:
                if observe is not None:
                    observe(event)
                if isinstance(event, TextDelta) and event.index == 0:
                    sink.feed(event.text)
                    shown = True
            # Choice 0 is the reply, shown as it comes; with -n, the others follow it.
            others = "".join(CHOICE_SEPARATOR + response.text(i) for i in response.indexes() if i)
            if others:
                sink.feed(others)
                shown = True
        except BaseException as exc:
            status = "incomplete" if isinstance(exc, AimlchatError) else "interrupted"
            self._keep_partial(response, sink if shown else None, status)
            raise
        return self._keep_reply(response, sink)

    def _keep_reply(self, response: Response, sink: Sink) -> TurnResult:
        reason = response.finish_reason(0)
        status = "incomplete" if reason == "content_filter" else "ok"
        result = TurnResult(response, response.text(0), response.usage, reason, status)
        usage = (
            (result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
        )
        if result.text or status == "ok":
            self._append({"role": "assistant", "content": result.text}, status=status, usage=usage)
        else:  # filtered before a word: no reply, as if the request had failed
            self._fail_last_user()
        self._keep_choices(response)
        self.totals.add(result.usage, self.cost_of(result.usage))
        sink.finish(status=None if status == "ok" else status)  # after saving: it may fail
        if reason == "content_filter":
            raise ReplyFiltered(result)
        return result

    def _keep_partial(self, response: Response, sink: Sink | None, status: str) -> None:
        response.close()  # stop reading; what arrived is what is kept
        if sink is not None:
            with contextlib.suppress(OSError, AimlchatError):  # a gone pipe; text saved below
                sink.finish(status=status)
        text = response.text(0)
        if text:
            self._append({"role": "assistant", "content": text}, status=status)
            self._keep_choices(response)
        else:
            self._fail_last_user()

    def _keep_choices(self, response: Response) -> None:
        # -n N: choices 1.. go to history as "choice" rows, kept out of the next context.
        for i in response.indexes():
            text = response.text(i)
            if i and text:
                self._record({"role": "assistant", "content": text}, status="choice")

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
