"""`aimlchat tools`: every tool there is — built-in, `[tools.NAME]` command, MCP server
tool — and each MCP server's state, as a table, tab-separated lines or JSON.

An MCP server's tools are known only once it runs, so this starts every configured
server (or those named), lists, and stops them all before printing: a slow reader of
the output keeps no server alive. A server that fails is listed as failed with its
stderr's last lines, the others still are, and the exit status says so (1; 3 for a
refused key or an unset `${VAR}`). Nothing a server says is trusted: on a terminal it
is made safe, on a pipe kept to its line and column, and no header or env value (they
hold secrets) is ever printed; a URL loses its query string.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, ConfigError, redact
from aimlchat.record import record
from aimlchat.terminal.sanitize import one_line
from aimlchat.tools.mcp.config import shown_url, unkeyed
from aimlchat.tools.toolset import no_such_tool
from aimlchat.words import elide, plural

if TYPE_CHECKING:
    from aimlchat.tools.mcp.config import ServerSpec
    from aimlchat.tools.mcp.server import Server
    from aimlchat.tools.protocol import Tool
    from aimlchat.tools.toolset import Toolset

SUMMARY_WIDTH = 100  # a description's first line, cut: --json has it whole
NOT_STARTED = "not started"
RUNNING = "running"
FAILED = "failed"


@record(frozen=True)
class ToolRow:
    """One tool as listed. `model_name` is None for a denied one: it is never offered."""

    label: str
    model_name: str | None
    kind: str
    server: str | None
    asks: bool
    denied: bool
    trusted: bool
    runs: str
    description: str
    parameters: dict[str, Any]


@record(frozen=True)
class ServerRow:
    name: str
    spec: ServerSpec
    state: str  # not started, running, failed
    error: str | None = None
    tools: int | None = None  # listed, the denied ones too
    denied: int = 0


@record(frozen=True)
class Listing:
    tools: list[ToolRow]
    servers: list[ServerRow]
    failures: list[AimlchatError]


def show_tools(app: App, *, names: Sequence[str], start: bool, as_json: bool) -> None:
    """List; then, if a server failed, raise its error (all printed by then)."""
    from aimlchat.commands.tooling import make_toolset

    toolset = make_toolset(
        app.cfg,
        app.notifier,
        log_dir=app.paths.log_dir,
        environ=app.tool_environ(),
        debug=app.opts.debug,
    )
    try:
        listing = gather(toolset, app.cfg.mcp, names, start=start)
    finally:
        toolset.close()  # stopped before printing; the exit hooks are the backstop
    if as_json:
        app.out.data(json.dumps(as_document(listing), indent=2) + "\n")
    else:
        print_listing(app, listing)
    if listing.failures:
        raise failure(listing, app.paths.log_dir)


# -- what there is ------------------------------------------------------------------------


def gather(
    toolset: Toolset, specs: dict[str, ServerSpec], names: Sequence[str], *, start: bool
) -> Listing:
    """The tools and servers `names` pick (all when none), starting the servers wanted
    unless not `start`. A name that is no tool nor server: UsageError, before any starts."""
    local, servers, only = _wanted(toolset, specs, names)
    rows = [_local_row(tool) for name, tool in toolset.local().items() if name in local]
    server_rows: list[ServerRow] = []
    failures: list[AimlchatError] = []
    if start:
        toolset.start(servers)  # together: a failure stays with its server, listed below
    for name in servers:
        spec = specs[name]
        if not start:
            server_rows.append(ServerRow(name=name, spec=spec, state=NOT_STARTED))
            continue
        found, server_row, failed = _server(toolset.server(name), only.get(name))
        rows += found
        server_rows.append(server_row)
        if failed is not None:
            failures.append(failed)
    return Listing(tools=rows, servers=server_rows, failures=failures)


def _wanted(
    toolset: Toolset, specs: dict[str, ServerSpec], names: Sequence[str]
) -> tuple[set[str], list[str], dict[str, set[str]]]:
    """The local tools, the servers, and per server the only tools (`srv.tool`) wanted."""
    local_names = set(toolset.local())
    if not names:
        return local_names, list(specs), {}
    local: set[str] = set()
    servers: list[str] = []
    only: dict[str, set[str]] = {}
    whole: set[str] = set()
    for name in names:
        server, dot, tool = name.partition(".")
        if name in local_names:
            local.add(name)
        elif name in specs:
            whole.add(name)
        elif dot and server in specs and tool:
            only.setdefault(server, set()).add(tool)
        else:
            raise toolset.unknown(name)
        for found in (name, server):
            if found in specs and found not in servers:
                servers.append(found)
    for name in whole:  # `srv` and `srv.tool` both named: every tool of srv
        only.pop(name, None)
    return local, servers, only


def _local_row(tool: Tool) -> ToolRow:
    return ToolRow(
        label=tool.label,
        model_name=tool.name,
        kind=tool.kind,
        server=None,
        asks=tool.asks,
        denied=False,
        trusted=False,
        runs=tool.runs(),
        description=tool.description,
        parameters=dict(tool.parameters),
    )


def _server(
    server: Server, only: set[str] | None
) -> tuple[list[ToolRow], ServerRow, AimlchatError | None]:
    """Start `server` and list its tools, denied ones included (marked)."""
    from aimlchat.tools.mcp.errors import McpError
    from aimlchat.tools.mcp.provider import object_schema

    spec = server.spec
    try:
        offered = {tool.label: tool for tool in server.tools()}
        listed = server.listed()
    except (McpError, ConfigError) as exc:
        error = unkeyed(redact(server.error or exc.message), spec.url)
        exc.message = error  # what stderr says at the end too
        return [], ServerRow(name=server.name, spec=spec, state=FAILED, error=error), exc
    denied = sum(1 for tool in listed if f"{server.name}.{tool.name}" not in offered)
    row = ServerRow(name=server.name, spec=spec, state=RUNNING, tools=len(listed), denied=denied)
    if only is not None:
        missing = sorted(only - {tool.name for tool in listed})
        if missing:
            raise no_such_tool(server.name, missing[0], [tool.name for tool in listed])
        listed = [tool for tool in listed if tool.name in only]
    rows = []
    for tool in listed:
        label = f"{server.name}.{tool.name}"
        given = offered.get(label)
        rows.append(
            ToolRow(
                label=label,
                model_name=given.name if given is not None else None,
                kind="mcp",
                server=server.name,
                asks=given.asks if given is not None else False,
                denied=given is None,
                trusted=spec.trusted,
                runs=f"MCP server {server.name}",
                description=tool.description,
                parameters=given.parameters
                if given is not None
                else object_schema(tool.input_schema),
            )
        )
    return rows, row, None


def failure(listing: Listing, log_dir: Path) -> AimlchatError:
    """What the exit says: the one failure itself (its exit code: 1, 3 for a refused key
    or an unset variable, 4 for a server that cannot be reached), or one line naming the
    servers that failed (exit 1)."""
    if len(listing.failures) == 1:
        return listing.failures[0]
    failed = [row.name for row in listing.servers if row.state == FAILED]
    return AimlchatError(
        f"{len(failed)} MCP servers failed to start: {', '.join(failed)}",
        hint=f"the STATE column says why; their logs: {log_dir}/mcp-NAME.log",
    )


# -- how it reads -------------------------------------------------------------------------


def asks_text(row: ToolRow) -> str:
    if row.denied:
        return "denied"
    if not row.asks:
        return "trusted" if row.trusted else "allowed"
    return "asks"


def transport_text(spec: ServerSpec) -> str:
    if spec.command is not None:
        return shlex.join(spec.command)
    return shown_url(spec.url or "")


def state_text(row: ServerRow) -> str:
    if row.state == RUNNING:
        count = plural(row.tools or 0, "tool")
        return f"running, {count}" + (f" ({row.denied} denied)" if row.denied else "")
    if row.state == FAILED:
        return f"failed: {row.error or 'unknown error'}"
    return row.state


LABEL_WIDTH = 32  # a tool's name on a terminal


def summary(text: str) -> str:
    """A description's first line, its spaces collapsed, cut to SUMMARY_WIDTH."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return elide(first, SUMMARY_WIDTH)


def print_listing(app: App, listing: Listing) -> None:
    tool_headers = ["TOOL", "KIND", "ASKS", "RUNS", "DESCRIPTION"]
    tool_rows = [
        [row.label, row.kind, asks_text(row), row.runs, summary(row.description)]
        for row in listing.tools
    ]
    server_headers = ["MCP SERVER", "TRANSPORT", "STATE"]
    server_rows = [[row.name, transport_text(row.spec), state_text(row)] for row in listing.servers]
    if not app.out.is_terminal:
        text = _tsv([tool_headers, *tool_rows])
        if server_rows:
            text += "\n" + _tsv([server_headers, *server_rows])
        app.out.data(text)
        return
    from aimlchat.terminal.table import print_table

    # On a screen a freak of a name (a server's 70 characters) must not squeeze the table
    # into a column of folds: it is cut there; a pipe and --json give it whole.
    for row in tool_rows:
        row[0] = elide(row[0], LABEL_WIDTH)

    env = app.env
    color = env.stdout_color
    print_table(
        env.stdout, tool_headers, tool_rows, color=color, terminal=True, whole=[0], optional=[3]
    )
    if server_rows:
        app.out.data("\n")
        print_table(env.stdout, server_headers, server_rows, color=color, terminal=True, whole=[0])


def _tsv(rows: list[list[str]]) -> str:
    """Tab-separated lines: a tab, line break or control character in a server's string
    becomes a space, so it stays on its line and in its column."""
    return "".join("\t".join(one_line(cell) for cell in row) + "\n" for row in rows)


def as_document(listing: Listing) -> dict[str, Any]:
    """--json: no header or env value, a URL without its query string."""
    tools = [
        {
            "name": row.label,
            "model_name": row.model_name,
            "kind": row.kind,
            "server": row.server,
            "asks": row.asks,
            "denied": row.denied,
            "runs": row.runs,
            "description": row.description,
            "parameters": row.parameters,
        }
        for row in listing.tools
    ]
    servers = []
    for row in listing.servers:
        spec = row.spec
        where: dict[str, Any] = (
            {"command": list(spec.command)}
            if spec.command is not None
            else {"url": shown_url(spec.url or "")}
        )
        servers.append(
            {
                "name": row.name,
                "transport": spec.transport,
                **where,
                "state": row.state,
                "error": row.error,
                "tools": row.tools,
                "denied": row.denied,
                "trusted": spec.trusted,
            }
        )
    return {"tools": tools, "servers": servers}
