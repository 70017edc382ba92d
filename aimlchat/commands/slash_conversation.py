"""Slash commands about the conversation itself: its model, prompt, parameters and history."""

from __future__ import annotations

import shlex

from aimlchat.api.deprecations import CHAT
from aimlchat.chat.session import Totals
from aimlchat.commands.repl_core import ReplCore
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.record import replace
from aimlchat.settings import params, parse
from aimlchat.tools.messages import calls_text
from aimlchat.words import plural


class ConversationCommands(ReplCore):
    def cmd_clear(self, _: str) -> None:
        self.chat = self.chat.renew(self.chat.settings)
        self.pending_images, self.pending_files = [], []
        self.app.notifier.info("new conversation")

    def cmd_model(self, name: str) -> None:
        """`/model NAME`: a name the cached list lacks is refused, with the close ones."""
        from aimlchat.commands import model_choice

        if not name:
            self.write(f"model: {self.chat.settings.model}\n")
            return
        # The retirement feed first: a withdrawn model is refused as one, and a retiring
        # one may have left the catalogue already.
        if self.app.check_model(name, source=CHAT):
            self.cmd_model_anyway(name)
            return
        models = self.app.prices.models
        refused = model_choice.refusal(models, name)
        if refused is not None:
            raise refused
        if not models:
            self.app.notifier.warn(model_choice.unchecked(name))
        self.cmd_model_anyway(name)

    def cmd_model_anyway(self, name: str) -> None:
        """`/model! NAME`: switch unchecked (a model newer than the cached list)."""
        if not name:
            raise UsageError("/model! needs a NAME")
        self.app.check_model(name, source=CHAT)  # withdrawn: refused (warned once a day)
        self.chat.settings.model = name
        self.chat.settings_changed()
        self.app.notifier.info(f"model is now {name}")

    def cmd_system(self, text: str) -> None:
        if not text:
            self.write(f"system: {self.chat.settings.system or '(none)'}\n")
            return
        self.chat.settings.system = text
        self.chat.settings_changed()
        self.app.notifier.info("system prompt set")

    def cmd_role(self, name: str) -> None:
        if not name:
            roles = ", ".join(sorted(self.app.cfg.roles)) or "none (add [roles] to config)"
            self.write(f"roles: {roles}\n")
            return
        role = self.app.role(name)
        model = (role.model or "").strip()  # as resolve takes it: no spaces around
        if model:
            self.app.check_model(model, source=f"role {name}")
        settings = self.chat.settings
        settings.system = role.system if role.system is not None else settings.system
        settings.model = model or settings.model
        settings.params.update(role.params)
        self.chat.settings_changed()
        self.app.notifier.info(f"role {name} in use")

    def cmd_set(self, rest: str) -> None:
        current = self.chat.settings.params
        if not rest:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(current.items())) or "(defaults)"
            self.write(f"params: {shown}\nsettable: {', '.join(params.settable_names())}\n")
            return
        name, _, value = rest.partition(" ")
        self.chat.settings.params, notice = parse.apply_set(current, name, value)
        self.app.notifier.info(notice)

    def cmd_retry(self, _: str) -> None:
        self._turn(self.chat.retry)

    def cmd_undo(self, _: str) -> None:
        self.app.notifier.info("last exchange dropped" if self.chat.undo() else "nothing to undo")

    def cmd_history(self, _: str) -> None:
        if not self.chat.messages:
            self.write("(no messages yet)\n")
            return
        for message, status in zip(self.chat.messages, self.chat.statuses, strict=False):
            mark = "" if status == "ok" else f" [{status}]"
            text = message.readable() + "\n" + calls_text(message.calls)
            self.write(f"\n── {message.role}{mark}\n{text}")

    def cmd_save(self, name: str) -> None:
        if not name:
            raise UsageError("/save needs a NAME")
        chat = self.chat
        if chat.store is None:
            raise AimlchatError("history is off in this session; nothing to save")
        # Claimed now, even before the first message: a name another conversation holds
        # is refused here (NameTaken), and history stays on.
        chat.conversation_id = chat.store.save_as(
            chat.conversation_id, name, model=chat.settings.model, system=chat.settings.system
        )
        chat.name = name
        resume = f"aimlchat chat --session {shlex.quote(name)}"
        self.app.notifier.info(f"saved as {name!r}; resume with: {resume}")

    def cmd_load(self, ref: str) -> None:
        store = self.chat.store
        if store is None:
            raise AimlchatError("history is not available in this session")
        cid = store.resolve(ref or None)  # all digits: an id; else a name; none: the latest
        now = self.chat.settings
        # Everything this session set, but the system prompt: the loaded one's stands.
        self.chat = self.chat.renew(replace(now, system=None), conversation_id=cid)
        self.app.notifier.info(
            f"loaded conversation {cid} ({plural(len(self.chat.messages), 'message')})"
        )
        if self.chat.settings.model != now.model:  # it goes on with the model it used
            self.write(f"model: {self.chat.settings.model}\n")
        self.show_last_exchange()

    def cmd_usage(self, _: str) -> None:
        """The session's tokens and cost: every conversation since it began (/clear and
        /load start others), the span `/budget` counts."""
        t = self.session_totals()
        if not t.paid:
            self.write("usage: no reply yet\n")
            return
        line = (
            f"{plural(t.turns, 'reply')} · {t.prompt_tokens} prompt + {t.completion_tokens} "
            f"completion = {t.prompt_tokens + t.completion_tokens} tokens"
        )
        self.write(f"{line} · {spent_text(t, unknown='cost unknown')}\n")

    def cmd_cost(self, _: str) -> None:
        """The session's cost: the API's charges, `~` when any part is an estimate."""
        t, total = self.session_totals(), self.session_totals().total
        if not t.paid:
            said = "no reply yet"
        else:
            said = spent_text(t, unknown="unknown (no charge, no price)")
            said += " (partly estimated)" if total is not None and total.estimated else ""
        self.write(f"cost: {said} · {plural(t.turns, 'reply')}\n")


def spent_text(totals: Totals, *, unknown: str) -> str:
    """`$0.00248`, `~$0.0003`, `$0.00124+?` (some reply's cost not known), or `unknown`."""
    total = totals.total
    if total is None:
        return unknown
    return total.text() + ("+?" if totals.unknown else "")
