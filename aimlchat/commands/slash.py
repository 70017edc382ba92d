"""The chat REPL's slash commands: the table `/help` shows, and `Repl`, which dispatches a
typed line to a command or sends it as a message.

Commands are plain `cmd_<name>` methods, grouped by theme in `slash_conversation` and
`slash_content`, so their logic is tested without a terminal. A new command is a row in
`COMMANDS` plus a method (on `Repl` here or on a group).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aimlchat.commands.repl_core import Quit
from aimlchat.commands.slash_content import ContentCommands
from aimlchat.commands.slash_conversation import ConversationCommands, spent_text
from aimlchat.commands.slash_tools import ToolCommands
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.record import record

if TYPE_CHECKING:
    from aimlchat.chat.budget import Budget
    from aimlchat.chat.session import Chat


@record(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS = [
    Command("/help", "", "this list"),
    Command("/exit", "", "leave (also /quit, Ctrl-D)"),
    Command("/quit", "", "leave"),
    Command("/clear", "", "start a new conversation"),
    Command("/model", "[NAME]", "show or switch the model (/model! NAME: one not listed)"),
    Command("/system", "[TEXT]", "show or set the system prompt"),
    Command("/role", "NAME", "use a named system prompt from config"),
    Command("/set", "PARAM [VALUE]", "set a parameter (no VALUE: unset); /set lists them"),
    Command("/retry", "", "regenerate the last reply"),
    Command("/undo", "", "drop the last exchange"),
    Command("/history", "", "show this conversation"),
    Command("/save", "NAME", "name this conversation (resume: chat --session NAME)"),
    Command("/load", "NAME|ID", "switch to a saved conversation"),
    Command("/copy", "[N]", "copy the last reply, or its code block N, to the clipboard"),
    Command("/image", "PATH|URL", "attach an image to the next message"),
    Command(
        "/file", "[PATH…|rm N]", "attach files to the next message (alone: list; rm N|PATH|all)"
    ),
    Command("/edit", "", "write the next message in $EDITOR"),
    Command("/usage", "", "tokens and cost so far"),
    Command("/cost", "", "what this session has cost so far (~: an estimate)"),
    Command("/budget", "[USD|off]", "show or change this session's --max-cost"),
    Command("/tools", "[NAME|all|none]", "list the tools, or turn one on or off"),
    Command("/context", "", "what the next request sends, and its token estimate"),
    Command("/reasoning", "[on|off]", "keep a reasoning model's thinking on screen, or not"),
]
NAMES = [c.name for c in COMMANDS]


def session_budget(chat: Chat) -> Budget:
    """The session's budget, made when it has none, so `/budget USD` can set a limit
    mid-session; a refused message says how to go on."""
    from aimlchat.chat.budget import Budget

    if chat.budget is None:
        chat.budget = Budget()
        chat.budget.watch(chat.totals)
    chat.budget.limit_hint = "/budget USD raises it; /usage, /save and /quit still work"
    return chat.budget


class Repl(ConversationCommands, ContentCommands, ToolCommands):
    def handle(self, line: str) -> None:
        """One line from the prompt: a slash command or a message."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/") and not text.startswith("//"):
            self._command(text)
            return
        # "//" escapes a message that really starts with a slash.
        self.send(line[1:] if text.startswith("//") else line)

    def _command(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        # A trailing "!" insists, where a command has a way to: "/model! NAME" is cmd_model_anyway.
        base = word.lower().removesuffix("!")
        anyway = "_anyway" if base != word.lower() else ""
        method = getattr(self, "cmd_" + base[1:] + anyway, None)
        if base not in NAMES or method is None:
            close = [n for n in NAMES if n.startswith(word.lower()[:3])]
            self.app.notifier.warn(
                f"unknown command {word}; not sent"
                + (f" (did you mean {', '.join(close)}?)" if close else " (see /help)")
            )
            return
        try:
            method(rest.strip())
        except AimlchatError as exc:
            self.app.notifier.error(exc.message, exc.hint)

    def cmd_help(self, _: str) -> None:
        width = max(len(f"{c.name} {c.args}") for c in COMMANDS)
        lines = [f"  {f'{c.name} {c.args}':<{width}}  {c.help}" for c in COMMANDS]
        lines += [
            "",
            "  Enter sends · Esc Enter (Alt-Enter) adds a line · Ctrl-C stops a reply",
            "  Ctrl-D exits · Up/Ctrl-R search earlier input · start with // to send a /",
        ]
        self.write("\n".join(lines) + "\n")

    def cmd_exit(self, _: str) -> None:
        raise Quit()

    cmd_quit = cmd_exit

    def cmd_budget(self, arg: str) -> None:
        """/budget USD|off: this session's --max-cost, raised, lowered or dropped; alone,
        the limits and what is spent."""
        budget = session_budget(self.chat)
        word = arg.strip().lower()
        if word == "off":
            budget.limit = None
        elif word:
            from aimlchat.settings import params

            try:
                value = float(word.removeprefix("$"))
            except ValueError:
                raise UsageError(f"/budget takes an amount in USD or off (got {arg!r})") from None
            budget.limit = params.check("max_cost", value, source="/budget")
        self.app.notifier.info(self._budget_status(budget))

    def _budget_status(self, budget: Budget) -> str:
        """The limits and what the session spent; "unknown" rather than $0 when some
        reply's cost is not known (no charge, no price), "no reply yet" before one."""
        from aimlchat.money import usd

        t = self.session_totals()
        if not t.paid:
            spent = "no reply yet"
        else:
            spent = "cost unknown" if t.total is None else spent_text(t, unknown="") + " spent"
        if budget.limit is None:
            line = f"no --max-cost for this session ({spent})"
        else:
            line = f"--max-cost {usd(budget.limit)}: {spent}"
        if budget.daily is not None:
            line += f"; max_cost_per_day {usd(budget.daily)}: {usd(budget.spent_today())} today"
        return line

    def cmd_reasoning(self, arg: str) -> None:
        """/reasoning on|off: keep the thinking on screen (--show-reasoning) or sum it up."""
        opts, word = self.app.opts, arg.lower()
        if word in ("on", "off"):
            opts.show_reasoning = word == "on"
        elif word:
            raise UsageError("/reasoning takes on or off")
        shown = "kept on screen" if opts.show_reasoning else "summed up in one line"
        self.app.notifier.info(f"reasoning is {shown}")
