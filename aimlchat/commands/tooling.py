"""What `ask` and `chat` add to a conversation for tools and the context window: the
tools offered (`-T`), how consent is asked, and each model's window.

Kept apart from runtime.py so the factories there stay one line each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from aimlchat.chat.context import Window
    from aimlchat.chat.toolloop import Report, ToolBox
    from aimlchat.commands.runtime import App
    from aimlchat.terminal.environment import Environment
    from aimlchat.tools.consent import Ask

AskFactory = Callable[[], "Ask | None"]


def make_toolbox(app: App, *, ask: AskFactory | None, report: Report | None) -> ToolBox:
    """The tools `-T` offers (a name that is no tool: UsageError, exit 2) and their consent,
    asked with what `ask` returns (None: there is no one to ask)."""
    from aimlchat.chat.toolloop import ToolBox
    from aimlchat.tools.consent import Consent
    from aimlchat.tools.spec import BUILTINS, select

    available = {**BUILTINS, **app.cfg.tools}
    offered = select(app.settings.tools, available)
    notifier = app.notifier
    consent = Consent(
        ask=ask() if ask is not None else None,
        warn=notifier.warn,
        show=notifier.raw,  # `→ name {args}`: made terminal-safe by Consent
        assume_yes=app.settings.yes,
    )
    return ToolBox(
        available,
        offered,
        consent,
        max_steps=app.settings.max_steps,
        environ=app.env.environ,
        report=report,
        say=lambda line: notifier.raw(notifier.clean(line)),
    )


def tty_ask(env: Environment, *, needed: bool) -> AskFactory:
    """`ask` asks on the controlling terminal (stdin may be a pipe), opened only when a
    tool is offered; with no stream on a terminal nobody is there to answer (cron, CI, a
    script), so it does not try."""

    def opener() -> Ask | None:
        from aimlchat.tools.consent import FdAsk

        if not needed or not (env.stdin_tty or env.stdout_tty or env.stderr_tty):
            return None
        return FdAsk.open_tty()

    return opener


def window_for(app: App, model: str) -> Window:
    """The model's context window: --context-length, else `[models."NAME"]
    context_length`, else the cached catalogue, else what a server's error said before
    (remembered per base URL and model); unknown until a server's error says."""
    from aimlchat.chat.context import resolve_window

    found = app.prices.find(model)
    names = [model] + ([found.id, *found.aliases] if found else [])
    configured = next(
        (
            app.cfg.models[name].context_length
            for name in names
            if name in app.cfg.models and app.cfg.models[name].context_length
        ),
        None,
    )
    flag, catalogue = app.settings.context_length, found.context if found else None
    return resolve_window(
        model,
        flag=flag,
        config=configured,
        catalogue=catalogue,
        learned=None if flag or configured or catalogue else _recall_window(app, model),
        output_max=found.output_max if found else None,
    )


def _windows_file(app: App) -> Path:
    return app.paths.cache_dir / "context-windows.json"


def _recall_window(app: App, model: str) -> int | None:
    path = _windows_file(app)
    if not path.exists():  # the common case: nothing learned, nothing more loaded
        return None
    from aimlchat.chat.window_memory import recall

    return recall(path, app.settings.base_url, model)


def remember_window(app: App, window: Window) -> None:
    """Keep a window a server's error stated, for the next run against this server."""
    from aimlchat.chat.window_memory import remember

    if window.length:
        remember(_windows_file(app), app.settings.base_url, window.model, window.length)


def describe_tools(box: ToolBox) -> str:
    """`/tools`: every tool there is, offered or not, what it runs and whether it asks."""
    offered = {spec.name for spec in box.offered}
    lines = []
    for name, spec in box.available.items():
        mark = "on " if name in offered else "off"
        runs = "built-in" if spec.command is None else _short(" ".join(spec.command), 40)
        if name in box.consent.always:
            runs += " · allowed this session"
        elif not spec.confirm or box.consent.assume_yes:
            runs += " · runs without asking"
        lines.append(f"  [{mark}] {name:<12} {_short(spec.description, 44):<44}  {runs}")
    return "\n".join(lines)


def _short(text: Any, width: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def lasting_notice(app: App) -> Callable[[str], None]:
    """A line that stays on stderr (`context: left out …`), even while the first-token
    spinner turns: it is erased, the line printed, and it goes on below."""

    def note(text: str) -> None:
        spinner = app.spinner
        if spinner is not None and spinner.active:
            spinner.stop()
            app.notifier.info(text)
            spinner.start()
        else:
            app.notifier.info(text)

    return note
