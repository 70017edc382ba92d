"""The chat REPL's state and how a message is sent: what every slash command builds on.

`ReplCore` holds the app, the current `Chat`, what is attached for the next message
(`/image`, `/file`, or `-a`/`-f` on the command line) and the draft to put back at the
prompt; the slash-command groups subclass it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aimlchat.chat.session import Chat, Totals, TurnResult
from aimlchat.commands.message import warn_text_only
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError
from aimlchat.messages import ASSISTANT, USER, Image, Message, user

SHOWN_PROMPT_LINES = 6  # of a resumed conversation's last message (it may hold whole files)


class Quit(Exception):
    pass


RECALL = "↑ brings your message back"  # said by a refusal that leaves the prompt empty


class ReplCore:
    def __init__(self, app: App, chat: Chat, write: Callable[[str], None]) -> None:
        self.app = app
        self._spent: list[Totals] = []  # every conversation of this session: /cost, /usage
        self.chat = chat
        self.write = write
        self.pending_images: list[Image] = []
        self.pending_files: list[str] = []  # fenced file blocks for the next message
        self.draft: str = ""  # text to put back at the prompt (a message that got no reply)
        # A refused message that tells the user to type a command: not put back at the
        # prompt (the command would be typed after it), but into the input history.
        self.recall: str | None = None
        self._refused = False  # the last turn was refused by a budget

    @property
    def chat(self) -> Chat:
        return self._chat

    @chat.setter
    def chat(self, chat: Chat) -> None:
        """The conversation (`/clear` and `/load` bring another): its totals join the
        session's, as they join its budget."""
        self._chat = chat
        if not any(t is chat.totals for t in self._spent):
            self._spent.append(chat.totals)

    def session_totals(self) -> Totals:
        """What this REPL session has spent, over every conversation it held."""
        return combined(self._spent)

    def _sink(self) -> Any:
        from aimlchat.terminal.output import per_reply

        return per_reply(self.app.reply_sink)  # a tool step's lines go between replies

    def _turn(self, action: Callable[[Any], TurnResult]) -> None:
        from aimlchat.commands.ask import TurnMeter

        meter = TurnMeter(self.chat.totals)
        self._refused = False
        try:
            result = action(self._sink())
        except KeyboardInterrupt:
            kept = self.chat.statuses and self.chat.statuses[-1] == "interrupted"
            self._usage(meter)
            self.app.notifier.info("interrupted" + ("; the partial reply is kept" if kept else ""))
            self._restore_unsent()
        except AimlchatError as exc:
            self._usage(meter)
            self._refusal(exc)
            self._restore_unsent()
        else:
            if citations := result.response.citations(0):
                from aimlchat.terminal.sources import show_sources

                show_sources(self.app.out, citations)  # under the reply; only on a terminal
            self._usage(meter)

    def _usage(self, meter: Any) -> None:
        """--usage: one line for the turn, every request it made summed (commands.ask)."""
        line = meter.line() if self.app.opts.usage else None
        if line is not None:
            self.app.notifier.info(line)

    def _refusal(self, exc: AimlchatError) -> None:
        """The error line; a budget's says how to go on here, in the REPL's words."""
        from aimlchat.chat.budget import BudgetReached

        hint = exc.hint
        if isinstance(exc, BudgetReached):
            self._refused = True
            hint = self._budget_hint(hint)
            sending = self._unanswered
            if sending is not None and not any(m is sending for m in self.chat.messages):
                hint = f"{hint}; {RECALL}" if hint else RECALL  # refused before it was sent
        self.app.notifier.error(exc.message, hint)

    def _budget_hint(self, hint: str | None) -> str | None:
        """Which limit refused, told as this REPL changes it (the budget's own hints name
        ask's flags): checked in the order `Budget.check` checks them."""
        budget = self.chat.budget
        if budget is None:
            return hint
        if budget.limit is not None and budget.unknown():
            return "/budget off drops the limit; or load prices with `aimlchat models --pricing`"
        if budget.limit is not None and budget.spent >= budget.limit:
            return budget.limit_hint
        return (
            "max_cost_per_day can be raised for the next run with --max-cost-per-day, "
            "or in config.toml"
        )

    _unanswered: Message | None = None  # the message `send` is sending

    def _restore_unsent(self) -> None:
        if self.chat.unsent is not None:
            self._give_back(self.chat.unsent.text)

    def _give_back(self, text: str) -> None:
        """A message that got no reply: at the prompt again, or, after a refusal that
        names a command to type, in the input history (Up)."""
        if self._refused:
            self.recall = text
        else:
            self.draft = text

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
        self._unanswered = message
        try:
            self._turn(lambda sink: self.chat.send(message, sink))
        finally:
            self._unanswered = None
        if not any(m is message for m in reversed(self.chat.messages)):
            # No reply at all, or refused before sending: the typed words come back (not
            # the files' text folded in), and the attachments wait for them.
            self._give_back(text)
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


def combined(totals: list[Totals]) -> Totals:
    """Several conversations' totals as one (a REPL session's, across /clear and /load)."""
    known = [t.micro_usd for t in totals if t.micro_usd is not None]
    return Totals(
        prompt_tokens=sum(t.prompt_tokens for t in totals),
        completion_tokens=sum(t.completion_tokens for t in totals),
        micro_usd=sum(known) if known else None,
        turns=sum(t.turns for t in totals),
        estimated=any(t.estimated for t in totals),
        unknown=sum(t.unknown for t in totals),
        paid=sum(t.paid for t in totals),
        estimates=sum(t.estimates for t in totals),
    )
