"""`aimlchat chat`: the prompt_toolkit REPL and its slash commands.

The only importer of prompt_toolkit. Slash commands are plain methods on `Repl`, so
their logic is tested without a terminal; `run_chat` wires them to a PromptSession.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aimlchat import __version__
from aimlchat.chat.attach import image_part
from aimlchat.chat.conversation import text_of, user_message
from aimlchat.chat.session import Chat, Settings
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.settings import params, parse

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS = [
    Command("/help", "", "this list"),
    Command("/exit", "", "leave (also /quit, Ctrl-D)"),
    Command("/quit", "", "leave"),
    Command("/clear", "", "start a new conversation"),
    Command("/model", "[NAME]", "show or switch the model"),
    Command("/system", "[TEXT]", "show or set the system prompt"),
    Command("/role", "NAME", "use a named system prompt from config"),
    Command("/set", "PARAM [VALUE]", "set a parameter (no VALUE: unset); /set lists them"),
    Command("/retry", "", "regenerate the last reply"),
    Command("/undo", "", "drop the last exchange"),
    Command("/history", "", "show this conversation"),
    Command("/save", "NAME", "name this conversation (resume: chat --session NAME)"),
    Command("/load", "NAME|ID", "switch to a saved conversation"),
    Command("/copy", "", "copy the last reply to the clipboard (OSC 52)"),
    Command("/image", "PATH|URL", "attach an image to the next message"),
    Command("/edit", "", "write the next message in $EDITOR"),
    Command("/usage", "", "tokens and cost so far"),
]
NAMES = [c.name for c in COMMANDS]


class Quit(Exception):
    pass


class Repl:
    def __init__(self, app: App, chat: Chat, write: Callable[[str], None]) -> None:
        self.app = app
        self.chat = chat
        self.write = write
        self.pending_images: list[dict[str, Any]] = []
        self.draft: str = ""  # text to put back at the prompt (a message that got no reply)

    # -- sending -------------------------------------------------------------------------

    def _sink(self) -> Any:
        from aimlchat.terminal.render import make_sink

        return make_sink(self.app.env, raw=self.app.opts.raw, code_theme=self.app.code_theme)

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

    def handle(self, line: str) -> None:
        """One line from the prompt: a slash command or a message."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/") and not text.startswith("//"):
            word, _, rest = text.partition(" ")
            method = getattr(self, "cmd_" + word[1:].lower(), None)
            if word.lower() not in NAMES or method is None:
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
            return
        # "//" escapes a message that really starts with a slash.
        self.send(line[1:] if text.startswith("//") else line)

    # -- slash commands -------------------------------------------------------------------

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

    def cmd_clear(self, _: str) -> None:
        self.chat = Chat(
            self.chat.client,
            self.chat.settings,
            store=self.chat.store,
            warn=self.app.notifier.warn,
            price=self.app.price,
        )
        self.pending_images = []
        self.app.notifier.info("new conversation")

    def cmd_model(self, name: str) -> None:
        if not name:
            self.write(f"model: {self.chat.settings.model}\n")
            return
        self.app.warn_unknown_model(name)
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
        settings = self.chat.settings
        settings.system = role.system if role.system is not None else settings.system
        settings.model = role.model or settings.model
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
            self.write(f"\n── {message['role']}{mark}\n{text_of(message['content'])}\n")

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
        self.app.notifier.info(f"saved as {name!r}; resume with: aimlchat chat --session {name}")

    def cmd_load(self, ref: str) -> None:
        store = self.chat.store
        if store is None:
            raise AimlchatError("history is not available in this session")
        cid = store.find(ref) if ref else store.latest()
        if cid is None:
            raise UsageError(f"no conversation {ref!r}", hint="see: aimlchat history list")
        settings = Settings(
            model=self.chat.settings.model,
            params=self.chat.settings.params,
            stream=self.chat.settings.stream,
        )
        self.chat = Chat(
            self.chat.client,
            settings,
            store=store,
            warn=self.app.notifier.warn,
            conversation_id=cid,
            price=self.app.price,
        )
        self.app.notifier.info(f"loaded conversation {cid} ({len(self.chat.messages)} messages)")

    def cmd_copy(self, _: str) -> None:
        reply = self.chat.last_reply()
        if reply is None:
            raise AimlchatError("no reply to copy yet")
        if not self.app.out.is_terminal:
            raise AimlchatError("/copy needs a terminal")
        payload = base64.b64encode(reply.encode("utf-8")).decode("ascii")
        self.app.out.control(f"\x1b]52;c;{payload}\x07")
        self.app.notifier.info(f"copied {len(reply)} characters (OSC 52)")

    def cmd_image(self, spec: str) -> None:
        if not spec:
            raise UsageError("/image needs a PATH or URL")
        self.pending_images.append(image_part(spec, detail=self.app.opts.image_detail))
        self.app.notifier.info(f"image attached to the next message ({len(self.pending_images)})")

    def cmd_edit(self, _: str) -> None:
        text = edit_in_editor(
            self.app.env.environ.get("VISUAL") or self.app.env.environ.get("EDITOR") or "vi"
        )
        # Editors end the file with a newline the user never typed.
        text = text[:-1] if text.endswith("\n") else text
        if text.strip():
            self.write(f"› {text}\n")  # what is sent, as if typed at the prompt
            self.send(text)
        else:
            self.app.notifier.info("empty message; nothing sent")

    def cmd_usage(self, _: str) -> None:
        t = self.chat.totals
        line = (
            f"{t.turns} replies · {t.prompt_tokens} prompt + {t.completion_tokens} "
            f"completion = {t.prompt_tokens + t.completion_tokens} tokens"
        )
        line += f" · ${t.cost:.6f}" if t.cost is not None else " · cost unknown"
        self.write(line + "\n")


def edit_in_editor(editor: str) -> str:
    fd, path = tempfile.mkstemp(prefix="aimlchat-", suffix=".md")
    os.close(fd)
    try:
        subprocess.run([*shlex.split(editor), path], check=False)
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise UsageError(f"editor not found: {editor}", hint="set $EDITOR") from None
    finally:
        os.unlink(path)


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
