"""`aimlchat cmd`: the model suggests one shell command; it runs only when the user says so.

On a terminal the command is shown highlighted with a one-key menu: execute, revise,
describe, copy, abort. Anywhere else (stdin or stdout not a terminal) the command is
printed, exactly, and never run: running model output unattended is the user's own
pipe away (`| sh`), never a flag of ours. So a pipe gets only what the model fenced as
code (one closed fenced block, or a reply that is one code span), never a reply cut off:
anything else is exit 1 with nothing printed. The exchange is saved to history.

Exit status: 0 when nothing failed (also after abort or copy); the command's own status
when it ran and failed (a signal's death is 128+N, as shells report it); 130 for Ctrl-C
at the menu, with nothing run.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping

from aimlchat import osplatform
from aimlchat.chat.session import Chat, ReplyFiltered
from aimlchat.chat.shellcmd import NoCommand, command_from, describe_prompt
from aimlchat.commands.runtime import App
from aimlchat.errors import ApiError, ExitCode, UsageError
from aimlchat.messages import Message, user
from aimlchat.tools.run import tool_environment

MENU = (("e", "execute"), ("r", "revise"), ("d", "describe"), ("c", "copy"), ("a", "abort"))
ABORT_KEYS = ("a", "q", "\x1b", "\x04")  # a, q, Esc, Ctrl-D
CMD_EXAMPLE = 'aimlchat cmd "find big files"'


def run_cmd(app: App, words: list[str]) -> int:
    """Ask for the command; print it (not a terminal) or offer the menu. The exit status."""
    from aimlchat.commands.message import build_message

    env = app.env
    if not words and env.stdin_tty:
        raise UsageError("cmd needs a description", hint=CMD_EXAMPLE)
    message = build_message(app, words, example=CMD_EXAMPLE)
    chat = app.open_chat(stream=not app.opts.no_stream)
    chat.settings.web_search = None  # a shell command needs no web search (config's is ignored)
    on_a_terminal = env.stdin_tty and env.stdout_tty
    command = ask_command(app, chat, message, bare=on_a_terminal)
    if not on_a_terminal:
        app.out.data(command + "\n")
        return 0
    return Menu(app, chat).run(command)


def ask_command(app: App, chat: Chat, message: Message, *, bare: bool) -> str:
    """One turn, shown only as a spinner; the command read out of the reply. Only a
    fenced one unless `bare`: the menu shows a bare line before it can run; a pipe
    would run it unseen."""
    from aimlchat.commands.ask import WholeReply
    from aimlchat.terminal.spinner import Spinner, spinner_wanted

    spinner = app.spinner = Spinner(app.env.stderr, enabled=spinner_wanted(app.env))
    with spinner:
        result = chat.send(message, WholeReply(spinner))
    if app.opts.usage:
        from aimlchat.commands.ask import usage_line

        app.notifier.info(usage_line(result.usage, result.cost))
    # NoCommand (exit 1) when the reply holds none, or was cut off.
    command = command_from(
        result.text,
        finish_reason=result.finish_reason,
        bare=bare,
        path=app.env.environ.get("PATH"),
    )
    if "\0" in command:  # no shell can take one; refused before it is shown or printed
        raise ApiError("the model's command holds a NUL byte; not used", hint="ask again")
    return command


class Menu:
    """The one-key menu under the command, until it is run, copied or abandoned."""

    def __init__(self, app: App, chat: Chat) -> None:
        self.app = app
        self.chat = chat
        fd = app.env.stdin_fd()
        if fd is None:
            raise UsageError("cmd needs a terminal to ask on")
        self.fd = fd

    def run(self, command: str) -> int:
        again = False
        while True:
            show_command(self.app, command, gap=again)  # a blank line only between rounds
            again = True
            try:
                choice = self.choose()
            except KeyboardInterrupt:
                self.app.out.data("\n")
                self.app.notifier.info("aborted; nothing was run")
                return ExitCode.INTERRUPTED
            if choice == "execute":
                app = self.app
                return execute(
                    command, app.env.environ, flush=app.out.flush, warn=app.notifier.warn
                )
            if choice == "copy" and self.copy(command):
                return 0
            if choice == "describe":
                self.describe(command)
            if choice == "revise":
                command = self.revise(command)
            if choice == "abort":
                self.app.notifier.info("aborted; nothing was run")
                return 0

    def choose(self) -> str:
        from aimlchat.terminal.keypress import drop_typeahead, read_key

        drop_typeahead(self.fd)
        self.app.out.control(_menu_line(self.app.out.color))
        while True:
            key = read_key(self.fd).lower()
            if key in ABORT_KEYS:
                choice = "abort"
                break
            choice = next((word for k, word in MENU if k == key), "")
            if choice:
                break
        self.app.out.data(choice + "\n")
        return choice

    def copy(self, command: str) -> bool:
        from aimlchat.terminal.clipboard import copy

        ways = copy(command + "\n", self.app.out, self.app.env.environ)
        if not ways:
            self.app.notifier.error("no clipboard: no OSC 52 terminal, no wl-copy, xclip or pbcopy")
            return False
        self.app.notifier.info(f"copied the command via {' and '.join(ways)}")
        return True

    def revise(self, command: str) -> str:
        """A follow-up in the same conversation; the model answers with a new command."""
        self.app.out.data("revise: ")
        try:
            follow = self.app.env.stdin.readline().strip()
        except KeyboardInterrupt:
            self.app.out.data("\n")
            return command
        if not follow:
            return command
        try:
            return ask_command(self.app, self.chat, user(follow), bare=True)
        except (NoCommand, ReplyFiltered) as exc:  # the one on screen is still good to offer
            why = exc.summary if isinstance(exc, NoCommand) else exc.message
            self.app.notifier.error(f"{why}; keeping the last command")
            return command

    def describe(self, command: str) -> None:
        """The explanation, as Markdown; asked aside, so the conversation that makes
        commands goes on untouched (and is all that history keeps)."""
        from aimlchat.chat.session import Chat
        from aimlchat.chat.transcript import TurnSettings
        from aimlchat.terminal.render import make_sink
        from aimlchat.terminal.spinner import Spinner, SpinnerSink, spinner_wanted

        app, s = self.app, self.chat.settings
        aside = Chat(
            self.chat.client,
            TurnSettings(model=s.model, params=dict(s.params), stream=s.stream, api=s.api),
            store=None,
            warn=app.notifier.warn,
            budget=self.chat.budget,  # max_cost_per_day holds for the aside too
        )
        answer = make_sink(app.env, raw=app.opts.raw, code_theme=app.code_theme)
        spinner = app.spinner = Spinner(app.env.stderr, enabled=spinner_wanted(app.env))
        with spinner:
            aside.send(user(describe_prompt(command)), SpinnerSink(answer, spinner))


def _menu_line(color: bool) -> str:
    def key(k: str, word: str) -> str:
        return f"\x1b[1;4m{k}\x1b[0m{word[1:]}" if color else f"[{k}]{word[1:]}"

    return "  ".join(key(k, word) for k, word in MENU) + " ? "


def show_command(app: App, command: str, *, gap: bool = False) -> None:
    """The command, highlighted as shell code (made terminal-safe by the renderer)."""
    env = app.env
    if gap:
        app.out.data("\n")
    if app.opts.raw or not env.stdout_color:
        app.out.data(f"{command}\n\n")
        return
    from aimlchat.chat.files import fenced
    from aimlchat.terminal.render import print_markdown

    block = fenced("", command, "bash").lstrip("\n")  # a fence no backtick inside can close
    print_markdown(env.stdout, block, color=True, code_theme=app.code_theme)


def execute(
    command: str,
    environ: Mapping[str, str],
    *,
    flush: Callable[[], None],
    warn: Callable[[str], None],
) -> int:
    """`$SHELL -c COMMAND` in the foreground, on the terminal, once what we wrote is
    `flush`ed; its status, reported."""
    argv = osplatform.shell_argv(environ, command)
    flush()
    try:
        with _ctrl_c_goes_to_the_command():
            # The command is the model's: like a tool's, it gets no key of ours.
            status = subprocess.run(argv, env=tool_environment(environ)).returncode
    except OSError as exc:
        raise UsageError(
            f"cannot run {argv[0]}: {exc.strerror or exc}",
            hint=f"check {osplatform.shell_variable()}",
        ) from None
    if status < 0:  # killed by a signal: report it as the shell would
        name = _signal_name(-status)
        warn(f"the command was ended by {name}")
        return 128 - status
    if status:
        warn(f"the command exited with status {status}")
    return status


@contextlib.contextmanager
def _ctrl_c_goes_to_the_command() -> Iterator[None]:
    # The command shares our process group, so Ctrl-C reaches it; we wait for it rather
    # than die first. A handler (not SIG_IGN) is reset by exec, so the command keeps Ctrl-C.
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    except ValueError:  # not the main thread (an in-process test)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
