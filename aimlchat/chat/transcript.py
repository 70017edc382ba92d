"""A conversation's messages: the context sent to the model and the history rows behind it.

Every message is saved the moment it exists; `/retry` and `/undo` mark rows instead of
deleting them. A history that cannot be written is a warning, never a failed turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

from aimlchat.api.adapters import OutputFormat
from aimlchat.errors import StoreError
from aimlchat.messages import ASSISTANT, Cost, Message
from aimlchat.record import record
from aimlchat.storage.store import Store


@record()
class TurnSettings:
    """What a turn sends besides the messages; the REPL changes these as it goes."""

    model: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    format: OutputFormat | None = None  # --format json, --schema FILE
    stream: bool = True
    api: str | None = None  # "chat" or "responses" (--api, config); None: as the route says
    web_search: str | None = None  # low | medium | high


class Transcript:
    def __init__(
        self,
        settings: TurnSettings,
        *,
        store: Store | None,
        warn: Callable[[str], None],
        conversation_id: int | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._warn = warn
        self.conversation_id = conversation_id
        self.name = name
        self.messages: list[Message] = []
        self.message_ids: list[int | None] = []
        self.statuses: list[str] = []
        self.unsent: Message | None = None  # a message that got no reply at all
        self.load_notice: str | None = None  # what loading mended after a crash
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
        from aimlchat.chat import repair  # only a resumed conversation needs mending

        loaded = repair.load(self.store.messages(conversation_id))
        self.messages, self.message_ids, self.statuses = (
            loaded.messages,
            loaded.ids,
            loaded.statuses,
        )
        self.load_notice = repair.notice(loaded)

    def _ensure_conversation(self) -> int | None:
        if self.conversation_id is None:
            self.conversation_id = self._persist(
                lambda s: s.create(
                    model=self.settings.model, system=self.settings.system, name=self.name
                )
            )
        return self.conversation_id

    def _append(
        self,
        message: Message,
        *,
        status: str = "ok",
        usage: tuple[int, int] | None = None,
        cost: Cost | None = None,
        inference_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        mid = self._record(
            message,
            status=status,
            usage=usage,
            cost=cost,
            inference_id=inference_id,
            client_request_id=client_request_id,
        )
        self.messages.append(message)
        self.message_ids.append(mid)
        self.statuses.append(status)

    def _record(
        self,
        message: Message,
        *,
        status: str,
        usage: tuple[int, int] | None = None,
        cost: Cost | None = None,
        inference_id: str | None = None,
        client_request_id: str | None = None,
    ) -> int | None:
        """A row in history only; `_append` also puts it in the context. A reply keeps
        what it cost and the ids that trace its request in the API's logs."""
        cid = self._ensure_conversation()
        if cid is None:
            return None
        result: int | None = self._persist(
            lambda s: s.add(
                cid,
                message,
                status=status,
                model=self.settings.model if message.role == ASSISTANT else None,
                usage=usage,
                cost=cost,
                inference_id=inference_id,
                client_request_id=client_request_id,
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
