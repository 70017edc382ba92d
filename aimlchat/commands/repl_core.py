"""The chat REPL's state and how a message is sent: what every slash command builds on.

`ReplCore` holds the app, the current `Chat`, what is attached for the next message and
the draft to put back at the prompt; the slash-command groups subclass it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aimlchat.chat.conversation import text_of, user_message
from aimlchat.chat.session import Chat
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError


class Quit(Exception):
    pass


class ReplCore:
    def __init__(self, app: App, chat: Chat, write: Callable[[str], None]) -> None:
        self.app = app
        self.chat = chat
        self.write = write
        self.pending_images: list[dict[str, Any]] = []
        self.draft: str = ""  # text to put back at the prompt (a message that got no reply)

    def _sink(self) -> Any:
        return self.app.reply_sink()

    def _turn(self, action: Callable[[Any], Any]) -> None:
        try:
            action(self._sink())
        except KeyboardInterrupt:
            kept = self.chat.statuses and self.chat.statuses[-1] == "interrupted"
            self.app.notifier.info("interrupted" + ("; the partial reply is kept" if kept else ""))
            self._restore_unsent()
        except AimlchatError as exc:
            self.app.notifier.error(exc.message, exc.hint)
            self._restore_unsent()

    def _restore_unsent(self) -> None:
        if self.chat.unsent is not None:
            self.draft = text_of(self.chat.unsent["content"])

    def send(self, text: str) -> None:
        message = user_message(text, self.pending_images)
        self.pending_images = []
        self._turn(lambda sink: self.chat.send(message, sink))
