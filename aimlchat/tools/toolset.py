"""Every tool there is, from the three providers, and what `-T` (or `/tools`) picks.

Built-ins and `[tools.NAME]` commands are known from config.toml; an MCP server's tools
are known once it has started, which happens the first time something names it: `-T aiml`
(all its tools but those denied), `-T aiml.search` (one), `-T all`, `/tools aiml`, or
`aimlchat tools`. Nothing here is built, and no server module loaded, until asked for:
a plain `ask` offers no tool and pays for none.

The servers a selection needs start together (server.start_all), a start slower than a
second said through `info` (given only when stderr is a terminal: a pipe or a log would
keep the line for good, and a script reading stderr's first line would read it); a
Ctrl-C meanwhile stops them all (StartInterrupted). A server
that failed is started again only when `retry` says so: a user's explicit `/tools`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aimlchat.errors import AimlchatError, UsageError
from aimlchat.tools.spec import ALL, BUILTINS, ToolSpec
from aimlchat.words import did_you_mean

if TYPE_CHECKING:
    from aimlchat.tools.mcp.config import ServerSpec
    from aimlchat.tools.mcp.server import Server, Servers
    from aimlchat.tools.protocol import Tool

Say = Callable[[str], None]
# OpenAI-compatible APIs refuse a request offering more tools than this.
MAX_OFFERED = 128


class StartInterrupted(KeyboardInterrupt):
    """A Ctrl-C while MCP servers started: each of `servers` was stopped (one that had
    just started too: the start was interrupted as a whole)."""

    def __init__(self, servers: list[str]) -> None:
        super().__init__()
        self.servers = servers


def local_tool(spec: ToolSpec) -> Tool:
    if spec.builtin:
        from aimlchat.tools.builtins import BuiltinTool

        return BuiltinTool(spec)
    from aimlchat.tools.commands import CommandTool

    return CommandTool(spec)


def no_such_tool(server: str, tool: str, names: Iterable[str], *, also: str = "") -> UsageError:
    """`server.tool` names no tool of the server, whose tools are `names`: the close ones,
    else all of them (and `also`)."""
    names = list(names)
    labels = [f"{server}.{name}" for name in names]
    # The tool's part alone: the server's, the same in all, would make any tool close.
    hint = did_you_mean(tool, names, shown=lambda name: f"{server}.{name}") or (
        "its tools: " + (", ".join(labels) or "none") + also
    )
    return UsageError(f"MCP server {server} has no tool named {tool!r}", hint=hint)


class Toolset:
    def __init__(
        self,
        commands: Mapping[str, ToolSpec],
        servers: Mapping[str, ServerSpec],
        *,
        log_dir: Path | None,  # None: --no-history, no server log either
        environ: Mapping[str, str],
        warn: Say,
        info: Say | None = None,  # "starting MCP server NAME…"; None: not said (no tty)
        trace: Say | None = None,  # --debug: every MCP message, both ways
    ) -> None:
        self._trace = trace
        self._specs = {**BUILTINS, **commands}
        self._server_specs = dict(servers)
        self._log_dir = log_dir
        self._environ = environ
        self._warn = warn
        self._info = info
        self._told_many = False
        self._local: dict[str, Tool] | None = None
        self._servers: Servers | None = None

    # -- what there is -------------------------------------------------------------------

    @property
    def server_names(self) -> list[str]:
        return list(self._server_specs)

    def local(self) -> dict[str, Tool]:
        """Built-ins and commands, by name (the same for the model and for people)."""
        if self._local is None:
            self._local = {name: local_tool(spec) for name, spec in self._specs.items()}
        return self._local

    def servers(self) -> Servers:
        if self._servers is None:
            from aimlchat.tools.mcp.server import Servers

            # Local names are reserved: an MCP tool's model name must not take one.
            self._servers = Servers(
                self._server_specs,
                log_dir=self._log_dir,
                environ=self._environ,
                reserved=self._specs,
                trace=self._trace,
            )
        return self._servers

    def server(self, name: str) -> Server:
        return self.servers().get(name)

    def started(self) -> list[Server]:
        return self._servers.started() if self._servers is not None else []

    def available(self) -> dict[str, Tool]:
        """Every tool known now, by the name the model knows: the local ones and those of
        the servers started so far."""
        found = dict(self.local())
        for server in self.started():
            if server.state == "running":
                found.update((tool.name, tool) for tool in server.tools())
        return found

    def known_names(self) -> list[str]:
        """What people may name: tools, servers, and the tools of started servers."""
        names = [*self._specs, *self._server_specs]
        for server in self.started():
            if server.state == "running":
                names += [tool.label for tool in server.tools()]
        return names

    # -- picking -------------------------------------------------------------------------

    def pick(self, names: Iterable[str], *, retry: bool = False) -> list[Tool]:
        """The tools `names` offer, in the order first named. A typo is a UsageError (exit
        2); a server named on its own that cannot start is its McpError (exit 1); under
        `all`, such a server is named in one line and left out. `retry`: a server that
        failed or stopped is started anew (else its failure is raised again)."""
        names = list(names)
        self.start(names, retry=retry)
        chosen: dict[str, Tool] = {}
        for name in names:
            for tool in self._one(name):
                chosen.setdefault(tool.name, tool)
        return list(chosen.values())

    def needs(self, names: Iterable[str]) -> list[str]:
        """The servers `names` need started, in config order (unknown names: none)."""
        wanted: set[str] = set()
        for name in names:
            if name == ALL:
                wanted.update(self._server_specs)
            elif name not in self._specs:
                wanted.add(name.partition(".")[0])
        return [name for name in self._server_specs if name in wanted]

    def start(self, names: Iterable[str], *, retry: bool = False) -> None:
        """Start the servers `names` need, together; what failed stays with each server
        (picking its tools raises it). StartInterrupted on a Ctrl-C meanwhile."""
        needed = self.needs(names)
        if not needed:
            return
        from aimlchat.tools.mcp.server import FAILED, RUNNING, start_all

        servers = [self.server(name) for name in needed]
        if retry:
            for server in servers:
                server.reset()  # a fresh start for one that failed or stopped
        # What start_all starts, and closes on a Ctrl-C (one that failed keeps its error).
        pending = [server.name for server in servers if server.state not in (RUNNING, FAILED)]
        try:
            start_all(servers, say=self._info)
        except KeyboardInterrupt as exc:  # start_all closed every one of them
            raise StartInterrupted(pending) from exc
        for server in servers:
            for note in server.take_notes():
                self._warn(note)

    def _one(self, name: str) -> list[Tool]:
        if name == ALL:
            return [*self.local().values(), *self._every_server()]
        if name in self._specs:
            return [self.local()[name]]
        if name in self._server_specs:
            found = self.server(name)
            tools = found.tools()
            if not tools:
                denied = found.denied()
                said = f" ({denied} denied)" if denied else ""
                self._warn(f"MCP server {name} offers no tools{said}")
            return tools
        server, dot, tool = name.partition(".")
        if dot and server in self._server_specs:
            return [self._server_tool(server, tool)]
        raise self.unknown(name)

    def _every_server(self) -> list[Tool]:
        from aimlchat.tools.mcp.errors import McpError

        tools: list[Tool] = []
        for name in self._server_specs:
            try:
                tools += self.server(name).tools()
            except (McpError, AimlchatError) as exc:
                self._warn(f"{exc.message}; going on without its tools")
        return tools

    def _server_tool(self, server: str, tool: str) -> Tool:
        spec = self._server_specs[server]
        if tool in spec.deny:
            raise UsageError(
                f"{server}.{tool} is denied in [mcp.{server}]",
                hint="remove it from deny to offer it",
            )
        tools = self.server(server).tools()
        for found in tools:
            if found.label == f"{server}.{tool}":
                return found
        names = [t.label.partition(".")[2] for t in tools]
        raise no_such_tool(server, tool, names, also=f" (or -T {server} for all)")

    def withdrawn(self, offered: list[Tool]) -> list[Tool]:
        """`offered` without the tools of a server no longer running (it died, or broke
        the protocol), each such server named in one line: the model is not offered
        tools whose every call would fail. The old tools of a server started anew go
        without a word."""
        if not any(tool.kind == "mcp" for tool in offered):
            return offered
        live = {id(tool) for tool in self.available().values()}
        running = {server.name for server in self.started() if server.state == "running"}
        kept: list[Tool] = []
        gone: list[str] = []
        for tool in offered:
            if tool.kind == "mcp" and id(tool) not in live:
                server = tool.label.partition(".")[0]
                if server not in gone and server not in running:
                    gone.append(server)
            else:
                kept.append(tool)
        for server in gone:
            self._warn(
                f"MCP server {server} stopped; its tools are no longer offered "
                f"(in chat, /tools {server} starts it again)"
            )
        return kept

    def check_count(self, offered: list[Tool]) -> None:
        """Warn once when more tools are offered than many APIs take in one request
        (they are offered all the same: some APIs take more)."""
        if len(offered) > MAX_OFFERED and not self._told_many:
            self._told_many = True
            self._warn(
                f"{len(offered)} tools offered; many APIs refuse more than {MAX_OFFERED}: "
                "offer fewer with -T server.tool"
            )

    def unknown(self, name: str) -> UsageError:
        known = sorted(self.known_names())
        hint = did_you_mean(name, known) or (
            f"known: {', '.join(known)}, or all; declare others as [tools.{name}] "
            f"or [mcp.{name}] in config.toml"
        )
        return UsageError(f"no tool named {name!r}", hint=hint)

    def close(self) -> None:
        if self._servers is not None:
            self._servers.close_all()
