"""The chat REPL's state and how a message is sent: what every slash command builds on.

`ReplCore` holds the app, the current `Chat`, what is attached for the next message
(`/image`, `/file`, or `-a`/`-f` on the command line) and the draft to put back at the
prompt; the slash-command groups subclass it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aimlchat.chat.session import Chat, TurnResult
from aimlchat.commands.message import warn_text_only
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError
from aimlchat.messages import ASSISTANT, USER, Image, Message, user

SHOWN_PROMPT_LINES = 6  # of a resumed conversation's last message (it may hold whole files)


class Quit(Exception):
    pass


class ReplCore:
    def __init__(self, app: App, chat: Chat, write: Callable[[str], None]) -> None:
        self.app = app
        self.chat = chat
        self.write = write
        self.pending_images: list[Image] = []
        self.pending_files: list[str] = []  # fenced file blocks for the next message
        self.draft: str = ""  # text to put back at the prompt (a message that got no reply)

    def _sink(self) -> Any:
        from aimlchat.terminal.output import per_reply

        return per_reply(self.app.reply_sink)  # a tool step's lines go between replies

    def _turn(self, action: Callable[[Any], TurnResult]) -> None:
        try:
            result = action(self._sink())
        except KeyboardInterrupt:
            kept = self.chat.statuses and self.chat.statuses[-1] == "interrupted"
            self.app.notifier.info("interrupted" + ("; the partial reply is kept" if kept else ""))
            self._restore_unsent()
        except AimlchatError as exc:
            self.app.notifier.error(exc.message, exc.hint)
            self._restore_unsent()
        else:
            if citations := result.response.citations(0):
                from aimlchat.terminal.sources import show_sources

                show_sources(self.app.out, citations)  # under the reply; only on a terminal
            if self.app.opts.usage:
                from aimlchat.commands.ask import usage_line

                self.app.notifier.info(usage_line(result.usage, result.cost))

    def _restore_unsent(self) -> None:
        if self.chat.unsent is not None:
            self.draft = self.chat.unsent.text

    def attach(self, images: list[Image], file_blocks: list[str]) -> None:
        self.pending_images += images
        self.pending_files += file_blocks

    def next_message(self, text: str) -> Message:
        """`text` with what is attached folded in: the message `send` sends, and the one
        `/context` counts (with no text yet), so both use one estimate."""
        return user("\n\n".join([*self.pending_files, text]), self.pending_images)

    def send(self, text: str) -> None:
        message = self.next_message(text)
        warn_text_only(self.app, self.chat.settings.model, message)
        images, files = self.pending_images, self.pending_files
        self.pending_images, self.pending_files = [], []
        self._turn(lambda sink: self.chat.send(message, sink))
        if not any(m is message for m in reversed(self.chat.messages)):
            # No reply at all, or refused before sending: the typed words go back to the
            # prompt (not the files' text folded in), and the attachments wait for them.
            self.draft = text
            self.pending_images, self.pending_files = images, files

    def show_last_exchange(self) -> None:
        """A resumed conversation's last message and reply, as they looked when sent."""
        messages = self.chat.messages
        last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == USER), None)
        if last is None:
            return
        lines = messages[last].readable().splitlines() or [""]
        shown = "\n  ".join(lines[:SHOWN_PROMPT_LINES])
        more = len(lines) - SHOWN_PROMPT_LINES
        self.write(f"› {shown}\n" + (f"  … ({more} more lines)\n" if more > 0 else ""))
        replies = [m for m in messages[last + 1 :] if m.role == ASSISTANT]
        reply = "\n\n".join(m.text for m in replies if m.text)
        if reply:
            self._show_reply(reply, self.chat.statuses[-1])
        if citations := [c for m in replies for c in m.citations]:
            from aimlchat.terminal.sources import show_sources

            show_sources(self.app.out, citations)  # under the reply, as when it came

    def _show_reply(self, text: str, status: str) -> None:
        env = self.app.env
        if self.app.opts.raw or not env.stdout_tty:
            self.write(text if text.endswith("\n") else text + "\n")
        else:
            from aimlchat.terminal.render import print_markdown

            print_markdown(env.stdout, text, color=env.stdout_color, code_theme=self.app.code_theme)
        if status != "ok":
            self.app.notifier.info(f"that reply is marked {status}")
