"""`aimlchat chat`: the prompt_toolkit loop and its wiring to a `Repl`.

The only importer of prompt_toolkit (with `repl_complete`, whose completer it builds). The
slash commands live in `slash` (and its groups); `Repl`, `Quit` and `COMMANDS` are
re-exported here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aimlchat import __version__
from aimlchat.chat.attach import image_part
from aimlchat.commands.message import fill_prompt
from aimlchat.commands.repl_core import Quit
from aimlchat.commands.runtime import App
from aimlchat.commands.slash import COMMANDS, NAMES, Repl, session_budget
from aimlchat.commands.slash_content import counted, file_context
from aimlchat.storage.refs import is_id
from aimlchat.words import plural

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from aimlchat.commands.repl_complete import Sources
    from aimlchat.messages import Image

__all__ = ["COMMANDS", "NAMES", "Quit", "Repl", "loop", "make_prompt_session", "run_chat"]


# -- what Tab offers --------------------------------------------------------------------


def completion_sources(app: App, repl: Repl | None = None) -> Sources:
    """Where each argument's completions come from, read when Tab is pressed."""
    from aimlchat.commands.model_choice import chat_names
    from aimlchat.commands.repl_complete import Sources
    from aimlchat.settings.params import settable_choices

    def models() -> Sequence[str]:
        return chat_names(app.prices.models)  # re-read when `aimlchat models` refreshed it

    def conversations() -> Sequence[str]:
        store = repl.chat.store if repl is not None else None
        if store is None:
            return ()
        rows = store.conversations(limit=200)
        names = [c.name for c in rows if c.name and not is_id(c.name)]  # digits: an id
        return [*names, *(str(c.id) for c in rows)]

    def params() -> dict[str, Sequence[str]]:
        return dict(settable_choices())

    def roles() -> Sequence[str]:
        return app.role_names()

    return Sources(
        commands=[(c.name, c.help) for c in COMMANDS],
        models=models,
        params=params,
        conversations=conversations,
        roles=roles,
        extra={"/reasoning": lambda: ("on", "off")},
    )


# -- prompt_toolkit wiring ------------------------------------------------------------------


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _send(event: Any) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state and state.current_completion:
            # A highlighted completion is taken and run: "/his", Tab, Enter.
            buffer.apply_completion(state.current_completion)
        elif state and len(state.completions) == 1 and " " not in buffer.text:
            # The only slash command that fits ("/his", Enter); an argument the user typed
            # (a model name) is sent as typed, not swapped for the one match.
            buffer.apply_completion(state.completions[0])
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


def make_prompt_session(app: App, repl: Repl | None = None, **io: Any) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory

    from aimlchat.commands.repl_complete import hint, make_completer

    sources = completion_sources(app, repl)
    session: PromptSession[str] = PromptSession(
        history=_history(app),
        auto_suggest=AutoSuggestFromHistory(),
        completer=make_completer(sources),
        complete_while_typing=True,
        key_bindings=_key_bindings(),
        enable_suspend=True,  # Ctrl-Z stops the REPL like any job; `fg` resumes it
        multiline=True,
        prompt_continuation=lambda width, line_number, soft_wrap: "." * (width - 1) + " ",
        **io,
    )

    def right_of_input() -> Any:
        """Why Tab offers nothing, where the user can fix it (no model list cached), in
        grey at the right of the line: drawn on any terminal (a bottom toolbar waits for
        the cursor position report, which not every terminal gives), gone once sent."""
        text = session.default_buffer.document.text_before_cursor
        said = None if session.app.is_done else hint(sources, text)
        return [("class:auto-suggestion", said)] if said else None

    session.rprompt = right_of_input
    return session


def _prompt(session: PromptSession[str], message: str, default: str = "") -> str:
    """Every prompt of the REPL (the main one, a tool's consent question) goes through
    here: while it runs, SIGTERM and SIGHUP end it through its event loop
    (`signals.through_loop`) rather than raise inside one of prompt_toolkit's callbacks,
    which would carry on. A closed terminal also reads as end of input: the hangup still
    wins over that EOF."""
    from aimlchat.signals import through_loop

    def stop(exc: BaseException) -> None:
        app = session.app
        if not app.future or not app.future.done():
            app.exit(exception=exc)

    with through_loop(stop) as attach:
        line = session.prompt(message, default=default, pre_run=attach)
    return line


def recall(session: PromptSession[str], text: str) -> None:
    """A refused message into the input history, so Up brings it back: typed at this
    prompt it is there already; sent from the command line (`chat "…"`) it is not."""
    history = session.history
    strings = history.get_strings()
    if not strings or strings[-1] != text:
        history.append_string(text)


def loop(repl: Repl, session: PromptSession[str], held: HeldKeys | None = None) -> None:
    while True:
        if repl.recall is not None:
            recall(session, repl.recall)
            repl.recall = None
        try:
            draft, repl.draft = repl.draft, ""
            if held is not None:
                held.input = session.input
                draft = "\n".join(part for part in (draft, held.give_back()) if part)
            line = _prompt(session, "› ", draft)
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            return
        try:
            repl.handle(line)
        except Quit:
            return


# -- the command ----------------------------------------------------------------------


def _command_line_attachments(app: App) -> tuple[list[Image], list[str]]:
    """`-a` and `-f` for the first message, checked before the REPL opens."""
    images = [image_part(spec, detail=app.settings.image_detail) for spec in app.opts.attach]
    more, blocks = file_context(app, list(app.opts.files)) if app.opts.files else ([], [])
    return images + more, blocks


class HeldKeys:
    """Keys typed while a reply streamed, held away from a consent question and given back
    to the next prompt as its draft: typed before the question was seen, they are neither
    its answer nor a message sent unseen. Taken from the terminal and from prompt_toolkit's
    own store (what the last prompt read past its Enter, a pasted second line)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.input: Any = None  # the REPL prompt's input, once it exists
        self._text = ""

    def take(self) -> None:
        from prompt_toolkit.input.typeahead import get_typeahead

        from aimlchat.terminal.keypress import take_typeahead

        if self.input is not None:
            self._text += "".join(key.data for key in get_typeahead(self.input))
        if self.fd is not None:
            self._text += take_typeahead(self.fd)

    def give_back(self) -> str:
        text, self._text = self._text, ""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _ESCAPES.sub("", text)  # arrow keys and the like: not text
        return "".join(c for c in text if c in "\n\t" or c.isprintable()).strip()


_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|O.|.)?")


def ask_consent(write: Callable[[str], None], held: HeldKeys) -> Callable[[str], str]:
    """`run weather? [y/N/a(lways this session)]` between two replies; Ctrl-C declines
    and stops the turn (a KeyboardInterrupt), Ctrl-D is no. The call shown above the
    question is written first: prompt_toolkit would clip a message taller than the screen.
    Keys typed before it appeared are held for the next prompt first (`HeldKeys`)."""

    def ask(question: str) -> str:
        from prompt_toolkit import PromptSession

        held.take()
        shown, _, last = question.rpartition("\n")
        if shown:
            write(shown + "\n")
        return _prompt(PromptSession(), last)

    return ask


def run_chat(app: App, first: str | None = None) -> None:
    """The REPL; `first` (`chat "…"`) is sent at once, with `-a`/`-f` attached to it."""
    first = fill_prompt(first.strip(), app.vars) if first and first.strip() else None
    images, blocks = _command_line_attachments(app)
    held = HeldKeys(app.env.stdin_fd())
    chat = app.open_chat(stream=not app.opts.no_stream, ask=lambda: ask_consent(app.out.data, held))
    session_budget(chat)  # from the first message: /budget may set a limit later
    write = app.out.data
    repl = Repl(app, chat, write)
    resumed = f" · resumed {plural(len(chat.messages), 'message')}" if chat.messages else ""
    unsaved = " · history off" if chat.store is None else ""
    write(
        f"aimlchat {__version__} · {chat.settings.model}{resumed}{unsaved}\n"
        "/help for commands · Esc Enter for a new line · Ctrl-D to exit\n"
    )
    repl.show_last_exchange()
    repl.attach(images, blocks)
    if images or blocks:
        one = len(images) + len(blocks) == 1
        verb = ("goes" if one else "go") if first else ("waits" if one else "wait")
        waiting = "with it" if first else "for the first message"
        app.notifier.info(f"{counted(images, blocks)} {verb} {waiting}")
    if first:
        write(f"› {first}\n")  # as if typed at the prompt
        repl.send(first)
    loop(repl, make_prompt_session(app, repl), held)
    name, cid = repl.chat.name, repl.chat.conversation_id
    # A name an older release let be all digits would now resume that id: give ours.
    ref = name if name and not is_id(name) else (str(cid) if cid else None)
    if ref is not None:
        write(f"Bye. Resume with: aimlchat chat --session {shlex.quote(ref)}\n")
