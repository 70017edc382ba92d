"""What `ask` and `chat` add to a conversation for tools and the context window: the
tools offered (`-T`), how consent is asked, and each model's window.

Kept apart from runtime.py so the factories there stay one line each. It takes the few
values it uses, never the App: runtime.py imports this module, not the other way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from aimlchat.words import elide, pad

if TYPE_CHECKING:
    from aimlchat.api.catalog import Model
    from aimlchat.chat.context import Window
    from aimlchat.chat.toolloop import Report, ToolBox
    from aimlchat.settings.config import FileConfig, ModelConfig
    from aimlchat.settings.resolve import Settings
    from aimlchat.terminal.environment import Environment
    from aimlchat.terminal.notify import Notifier
    from aimlchat.tools.consent import Ask
    from aimlchat.tools.toolset import Toolset

AskFactory = Callable[[], "Ask | None"]
T = TypeVar("T")
# In the cache folder: the windows servers stated, per base URL and model (Windows).
WINDOWS_FILE = "context-windows.json"


def make_toolset(
    cfg: FileConfig,
    notifier: Notifier,
    *,
    log_dir: Path | None,
    environ: Mapping[str, str],
    debug: bool,
) -> Toolset:
    """Every tool config.toml and the built-ins give, MCP servers started on first use,
    telling stderr of a slow start (on a terminal only) and, with --debug, of every MCP
    message."""
    from aimlchat.tools.toolset import Toolset

    return Toolset(
        cfg.tools,
        cfg.mcp,
        log_dir=log_dir,
        environ=environ,
        warn=notifier.warn,
        info=notifier.info if notifier.on_terminal else None,
        trace=notifier.debug if debug else None,
    )


def make_toolbox(
    settings: Settings,
    cfg: FileConfig,
    notifier: Notifier,
    environ: Mapping[str, str],
    *,
    mcp_environ: Mapping[str, str],
    log_dir: Path,
    ask: AskFactory | None,
    report: Report | None,
    debug: bool = False,
    busy: Callable[[str], AbstractContextManager[object]] | None = None,
) -> ToolBox:
    """The tools `-T` offers (a name that is no tool: UsageError, exit 2; an MCP server
    named that cannot start: its error, exit 1) and their consent, asked with what `ask`
    returns (None: there is no one to ask)."""
    from aimlchat.chat.toolloop import ToolBox
    from aimlchat.tools.consent import Consent

    # --no-history: nothing of the session touches disk, an MCP server's stderr neither.
    logs = log_dir if settings.history else None
    toolset = make_toolset(cfg, notifier, log_dir=logs, environ=mcp_environ, debug=debug)
    offered = toolset.pick(settings.tools)
    toolset.check_count(offered)
    consent = Consent(
        ask=ask() if ask is not None else None,
        warn=notifier.warn,
        show=notifier.raw,  # `→ name {args}`: made terminal-safe by Consent
        assume_yes=settings.yes,
    )
    return ToolBox(
        toolset,
        offered,
        consent,
        max_steps=settings.max_steps,
        environ=environ,
        report=report,
        say=lambda line: notifier.raw(notifier.clean(line)),
        busy=busy,
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


def model_setting(
    configured: Mapping[str, ModelConfig],
    model: str,
    found: Model | None,
    pick: Callable[[ModelConfig], T | None],
) -> T | None:
    """A `[models."NAME"]` setting for `model` (`pick` reads it from an entry): the entry
    for the name asked wins, then the catalogue's id (`found`), then its aliases; None
    when no entry sets it."""
    names = [model] + ([found.id, *found.aliases] if found else [])
    for name in names:
        entry = configured.get(name)
        value = pick(entry) if entry is not None else None
        if value:
            return value
    return None


class Windows:
    """Each model's context window: --context-length, else `[models."NAME"]
    context_length`, else the cached catalogue (`find`), else what a server's error said
    before (remembered per base URL and model in the cache folder); unknown until a
    server's error says."""

    def __init__(
        self,
        *,
        find: Callable[[str], Model | None],
        configured: Mapping[str, ModelConfig],
        flag: int | None,
        base_url: str,
        cache_dir: Path,
    ) -> None:
        self._find = find
        self._configured = configured
        self._flag = flag
        self._base_url = base_url
        self._file = cache_dir / WINDOWS_FILE

    def window(self, model: str) -> Window:
        from aimlchat.chat.context import resolve_window

        found = self._find(model)
        configured = model_setting(self._configured, model, found, lambda m: m.context_length)
        flag, catalogue = self._flag, found.context if found else None
        return resolve_window(
            model,
            flag=flag,
            config=configured,
            catalogue=catalogue,
            learned=None if flag or configured or catalogue else self._recall(model),
            output_max=found.output_max if found else None,
        )

    def _recall(self, model: str) -> int | None:
        if not self._file.exists():  # the common case: nothing learned, nothing more loaded
            return None
        from aimlchat.chat.window_memory import recall

        return recall(self._file, self._base_url, model)

    def remember(self, window: Window) -> None:
        """Keep a window a server's error stated, for the next run against this server."""
        from aimlchat.chat.window_memory import remember

        if window.length:
            remember(self._file, self._base_url, window.model, window.length)


def describe_tools(box: ToolBox) -> str:
    """`/tools`: every tool there is, offered or not, whether a call asks first, what runs
    it and what it does, one line each within 100 columns; then each MCP server not started
    yet, or failed."""
    offered = {tool.name for tool in box.offered}
    lines = []
    for name, tool in box.available.items():
        mark = "on " if name in offered else "off"
        if name in box.consent.always:
            asks = "always"  # the `a` answer: allowed for this session
        elif box.consent.assume_yes:
            asks = "--yes"
        else:
            asks = "asks" if tool.asks else "allowed"
        label, runs, what = _cell(tool.label, 22), _cell(tool.runs(), 22), tool.description
        lines.append(f"  [{mark}] {pad(label, 22)} {asks:<8} {pad(runs, 22)} {_cell(what, 36)}")
    started = {server.name: server for server in box.toolset.started()}
    for name in box.toolset.server_names:
        server = started.get(name)
        if server is None:
            lines.append(f"  MCP server {name}: not started (/tools {name} starts it)")
        elif server.state != "running":
            lines.append(f"  MCP server {name}: {server.state}: {_cell(server.error or '', 100)}")
    return "\n".join(lines)


def _cell(text: str, width: int) -> str:
    """A server's string within `width` columns as the terminal will show it: made
    visible (ESC as `^[`) first, since that widens it."""
    from aimlchat.terminal.sanitize import terminal_safe

    return elide(terminal_safe(text), width)
