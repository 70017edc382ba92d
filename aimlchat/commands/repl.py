"""`aimlchat chat`: the prompt_toolkit loop and its wiring to a `Repl`.

The only importer of prompt_toolkit (besides the completer it builds). The slash commands
live in `slash` (and its groups); `Repl`, `Quit` and `COMMANDS` are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aimlchat import __version__
from aimlchat.commands.repl_core import Quit
from aimlchat.commands.runtime import App
from aimlchat.commands.slash import COMMANDS, NAMES, Repl

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

__all__ = ["COMMANDS", "NAMES", "Quit", "Repl", "loop", "make_prompt_session", "run_chat"]


# -- prompt_toolkit wiring ------------------------------------------------------------------


def _completer() -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class SlashCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            text = document.text_before_cursor
            if not text.startswith("/") or " " in text:
                return
            for command in COMMANDS:
                if command.name.startswith(text):
                    yield Completion(
                        command.name, start_position=-len(text), display_meta=command.help
                    )

    return SlashCompleter()


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _send(event: Any) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state and (state.current_completion or len(state.completions) == 1):
            # A highlighted (or the only) slash command is taken and run: "/his", Enter.
            buffer.apply_completion(state.current_completion or state.completions[0])
        buffer.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return kb


def _history(app: App) -> Any:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    from aimlchat.fsutil import private_file

    if app.opts.no_history:
        return _read_only_history(str(app.paths.input_history_file))
    try:
        path = private_file(app.paths.input_history_file)
    except OSError as exc:
        app.notifier.warn(f"input history not saved: {exc.strerror or exc}")
        return InMemoryHistory()
    return FileHistory(str(path))


def _read_only_history(path: str) -> Any:
    """--no-history: earlier input is still offered (Up, Ctrl-R), read from the file if
    it exists; what is typed now stays in memory and nothing is written."""
    from prompt_toolkit.history import FileHistory

    class ReadOnlyFileHistory(FileHistory):
        def store_string(self, string: str) -> None:
            pass

    return ReadOnlyFileHistory(path)


def make_prompt_session(app: App, **io: Any) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory

    return PromptSession(
        history=_history(app),
        auto_suggest=AutoSuggestFromHistory(),
        completer=_completer(),
        complete_while_typing=True,
        key_bindings=_key_bindings(),
        enable_suspend=True,  # Ctrl-Z stops the REPL like any job; `fg` resumes it
        multiline=True,
        prompt_continuation=lambda width, line_number, soft_wrap: "." * (width - 1) + " ",
        **io,
    )


def loop(repl: Repl, session: PromptSession[str]) -> None:
    while True:
        try:
            draft, repl.draft = repl.draft, ""
            line = session.prompt("› ", default=draft)
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            return
        try:
            repl.handle(line)
        except Quit:
            return


def run_chat(app: App) -> None:
    chat = app.open_chat(stream=not app.opts.no_stream)

    write = app.out.data
    repl = Repl(app, chat, write)
    resumed = f" · resumed {len(chat.messages)} messages" if chat.messages else ""
    write(
        f"aimlchat {__version__} · {chat.settings.model}{resumed}\n"
        "/help for commands · Esc Enter for a new line · Ctrl-D to exit\n"
    )
    loop(repl, make_prompt_session(app))
    how = f"--session {repl.chat.name}" if repl.chat.name else "--continue"
    if repl.chat.conversation_id is not None:
        write(f"Bye. Resume with: aimlchat chat {how}\n")
