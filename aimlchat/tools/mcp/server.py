"""One MCP server per `[mcp.NAME]` and per process: started on first use, stopped at exit.

`Server` holds the session of one server: it starts it when its tools are first wanted
(a command in its own process group, its stderr to `mcp-NAME.log`; or an HTTP session),
lists its tools once, runs calls, and closes it. Its state is one of "not started",
"running", "failed" (with `error`, one line that ends with its stderr's last lines) and
"stopped". A started server registers its close with aimlchat.exit_hooks, so it is
stopped however aimlchat ends. `Servers` is the registry of a run: every configured
server, started or not, and the model names their tools were given (unique across them).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimlchat import exit_hooks
from aimlchat.errors import ConfigError
from aimlchat.fsutil import private_dir, private_file
from aimlchat.tools.mcp import names
from aimlchat.tools.mcp.config import ServerSpec
from aimlchat.tools.mcp.content import CallResult
from aimlchat.tools.mcp.errors import McpError, ServerFailed
from aimlchat.tools.mcp.expand import expand, expand_headers
from aimlchat.tools.mcp.provider import ServerTool
from aimlchat.tools.mcp.session import START_TIMEOUT, McpTool, Session
from aimlchat.tools.mcp.stdio import StdioTransport
from aimlchat.tools.run import tool_environment

if TYPE_CHECKING:
    from aimlchat.tools.mcp.http import HttpTransport
    from aimlchat.tools.protocol import Tool

NOT_STARTED = "not started"
RUNNING = "running"
FAILED = "failed"
STOPPED = "stopped"
LOG_LIMIT = 1024 * 1024  # a log past this is emptied when the server next starts
HTTP_READ_FLOOR = 300.0


class Server:
    def __init__(
        self,
        spec: ServerSpec,
        *,
        log_dir: Path | None,
        environ: Mapping[str, str],
        taken: set[str] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.log_dir = log_dir
        self.environ = environ
        self.state = NOT_STARTED
        self.error: str | None = None  # one line, when failed
        self._failure: ConfigError | McpError | None = None
        self._session: Session | None = None
        self._listed: list[McpTool] = []
        self._tools: list[Tool] | None = None
        self._taken = taken if taken is not None else set()
        self._hooked = False

    @property
    def log(self) -> Path | None:
        """Where a command server's stderr goes (None for an HTTP server, and under
        `--no-history`: nothing of that session touches disk, its tail is kept in memory)."""
        if self.spec.command is None or self.log_dir is None:
            return None
        return self.log_dir / f"mcp-{self.name}.log"

    @property
    def pid(self) -> int | None:
        """A running command server's process (and group) id."""
        transport = self._session.transport if self._session is not None else None
        return transport.pid if isinstance(transport, StdioTransport) else None

    @property
    def session(self) -> Session | None:
        return self._session

    def start(self) -> None:
        """Start it unless it runs: initialize and list its tools. A server that failed
        raises its failure again (it is not retried within a run). Raises ServerFailed,
        ServerRefused (a 401: exit 3) or ConfigError (a `${VAR}` not set)."""
        if self.state == RUNNING:
            return
        if self._failure is not None:
            raise self._failure
        if not self._hooked:
            exit_hooks.on_exit(self.close)
            self._hooked = True
        try:
            start_timeout = max(START_TIMEOUT, self.spec.timeout)
            session = Session(self._transport(), start_timeout=start_timeout)
            self._session = session
            session.open()
            self._listed = session.list_tools()
        except (ConfigError, McpError) as exc:
            raise self._fail(exc) from None
        except BaseException:  # a Ctrl-C while it starts: nothing is left half started
            self.close()
            raise
        self.state = RUNNING

    def tools(self) -> list[Tool]:
        """Its tools but the denied ones, each with a model name unique in the run;
        starts it if need be."""
        if self._tools is None:
            self.start()
            offered = [tool for tool in self._listed if tool.name not in self.spec.deny]
            given = names.assign(self.name, [tool.name for tool in offered], self._taken)
            self._tools = [ServerTool(self, tool, given[tool.name]) for tool in offered]
        return list(self._tools)

    def listed(self) -> list[McpTool]:
        """Every tool it listed, the denied ones too (`aimlchat tools` shows them as
        denied); starts it if need be."""
        self.start()
        return list(self._listed)

    def call(self, tool: str, args: dict[str, Any], timeout: float | None = None) -> CallResult:
        """Run `tool`; a ServerFailed (it died, or broke the protocol) marks it failed and
        is raised again, with its one-line `error`. A Ctrl-C propagates (the session has
        cancelled the call) and leaves it running."""
        self.start()
        session = self._session
        assert session is not None
        try:
            return session.call_tool(tool, args, timeout=timeout or self.spec.timeout)
        except McpError as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        """Stop it (a command's process group: stdin closed, TERM, KILL; HTTP: DELETE);
        safe to call twice. A failed server stays failed."""
        session, self._session = self._session, None
        if session is not None:
            session.close()
        if self.state == RUNNING:
            self.state = STOPPED

    def _transport(self) -> StdioTransport | HttpTransport:
        spec = self.spec
        if spec.command is None:
            from aimlchat.tools.mcp.http import HttpTransport

            assert spec.url is not None
            headers = expand_headers(spec.headers, self.environ, server=self.name)
            read_timeout = max(HTTP_READ_FLOOR, spec.timeout + START_TIMEOUT)
            return HttpTransport(self.name, spec.url, headers=headers, read_timeout=read_timeout)
        env, argv = self._environment(), self._argv()
        try:
            log = self._open_log() if self.log is not None else None
        except OSError:  # a log folder that cannot be written: its tail is kept in memory
            log = None
        return StdioTransport(self.name, argv, log=log, env=env, cwd=spec.cwd)

    def _environment(self) -> dict[str, str]:
        """aimlchat's environment (PATH, proxies, the tokens a server reads) but its API
        key, as for a command tool: a third-party program gets the key only when the config
        hands it over (`env = { AIML_API_KEY = "${AIML_API_KEY}" }`); plus `env` with its
        `${VAR}` filled."""
        env = tool_environment(self.environ)
        for key, value in self.spec.env.items():
            env[key] = expand(value, self.environ, where=f"[mcp.{self.name}] env.{key}")
        return env

    def _argv(self) -> list[str]:
        """The command with `${VAR}` filled in its arguments (a token some servers take
        in argv stays out of config.toml too)."""
        assert self.spec.command is not None
        where = f"[mcp.{self.name}] command"
        return [expand(arg, self.environ, where=where) for arg in self.spec.command]

    def _open_log(self) -> Path:
        """The log, 0600 in a 0700 folder, emptied once it has grown past LOG_LIMIT, with a
        line saying which run starts here (before the server's own lines: not its tail)."""
        log = self.log
        assert log is not None and self.log_dir is not None
        private_dir(self.log_dir)
        private_file(log)
        with open(log, "ab") as f:
            if f.tell() > LOG_LIMIT:
                f.truncate(0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            f.write(f"--- {stamp} aimlchat (pid {os.getpid()}) starts {self.name}\n".encode())
        return log

    def _fail(self, exc: ConfigError | McpError) -> ConfigError | McpError:
        """Remember why it failed, in one line with its stderr's last lines, and stop what
        is left of it."""
        self.state = FAILED
        if isinstance(exc, ServerFailed):
            message = exc.message
            if exc.tail and "its stderr ends:" not in message:
                message += f"; its stderr ends: {' | '.join(exc.tail)}"
            hint = exc.hint or (f"its log: {self.log}" if self.log is not None else None)
            exc = ServerFailed(self.name, message, tail=exc.tail, hint=hint)
        self.error = exc.message
        self._failure = exc
        with contextlib.suppress(Exception):
            self.close()
        return exc


class Servers:
    """Every `[mcp.NAME]` of a run; a server starts only when its tools are wanted.
    `reserved`: model names already given (command and built-in tools), which no MCP
    tool may take."""

    def __init__(
        self,
        specs: Mapping[str, ServerSpec],
        *,
        log_dir: Path | None,
        environ: Mapping[str, str],
        reserved: Iterable[str] = (),
    ) -> None:
        self.taken: set[str] = set(reserved)
        self._servers = {
            name: Server(spec, log_dir=log_dir, environ=environ, taken=self.taken)
            for name, spec in specs.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._servers

    def names(self) -> list[str]:
        return list(self._servers)

    def get(self, name: str) -> Server:
        """The server named `name` (KeyError for one not configured)."""
        return self._servers[name]

    def all(self) -> list[Server]:
        return list(self._servers.values())

    def started(self) -> list[Server]:
        """The servers this run has tried to start (running, failed or stopped since)."""
        return [server for server in self._servers.values() if server.state != NOT_STARTED]

    def close_all(self) -> None:
        for server in self._servers.values():
            server.close()
