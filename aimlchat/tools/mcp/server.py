"""One MCP server per `[mcp.NAME]` and per process: started on first use, stopped at exit.

`Server` holds the session of one server: it starts it when its tools are first wanted
(a command in its own process group, its stderr to `mcp-NAME.log`; or an HTTP session),
lists its tools once, runs calls, and closes it. Its state is one of "not started",
"running", "failed" (with `error`, one line that ends with its stderr's last lines) and
"stopped". A started server registers its close with aimlchat.exit_hooks, so it is
stopped however aimlchat ends. `Servers` is the registry of a run: every configured
server, started or not, and the model names their tools were given (unique across them).

`start_all` starts several at once, a thread each (four servers that hang take one start
timeout, not four), while the main thread waits: a Ctrl-C or SIGTERM there closes every
server it started (a close from another thread is safe: see _Guarded and Server._gen) and
goes on up. A failed server is not started again unless `reset` says so (a user's explicit
`/tools`), which starts a new generation: a start left over from before changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimlchat import exit_hooks
from aimlchat.errors import ConfigError
from aimlchat.fsutil import private_dir, private_file
from aimlchat.settings.secrets import is_secret_name
from aimlchat.tools.mcp import jsonrpc, names
from aimlchat.tools.mcp.config import ServerSpec
from aimlchat.tools.mcp.content import CallResult
from aimlchat.tools.mcp.errors import McpError, ServerFailed, ServerRateLimited
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
NOTICE_AFTER = 1.0  # a start slower than this is said on stderr, so the wait is not blank
_TICK = 0.05
_JOIN_GRACE = 3.0  # a start thread's end, once its server was closed under it


class _Guarded:
    """A transport another thread may close at any time, even before it started: a close
    that comes first keeps it from starting; one that comes while it starts waits for the
    process to exist, then stops it. Without this, a Ctrl-C while a server starts could
    close a transport whose process is spawned a moment later, and outlives aimlchat."""

    def __init__(self, inner: StdioTransport | HttpTransport) -> None:
        self.inner = inner
        self.server = inner.server
        self._lock = threading.Lock()
        self.closed = False

    def start(self) -> None:
        with self._lock:
            if self.closed:
                raise ServerFailed(self.server, f"MCP server {self.server} was not started")
            self.inner.start()

    def send(self, msg: jsonrpc.Message) -> None:
        self.inner.send(msg)

    def receive(self, timeout: float) -> jsonrpc.Message | None:
        return self.inner.receive(timeout)

    def negotiated(self, version: str) -> None:
        self.inner.negotiated(version)

    def abandon(self, ident: int) -> None:
        self.inner.abandon(ident)

    def tail(self) -> tuple[str, ...]:
        return self.inner.tail()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self.inner.close()


class Server:
    def __init__(
        self,
        spec: ServerSpec,
        *,
        log_dir: Path | None,
        environ: Mapping[str, str],
        taken: set[str] | None = None,
        trace: Callable[[str], None] | None = None,  # --debug: its messages, both ways
    ) -> None:
        self.spec = spec
        self.trace = trace
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
        self._given: set[str] = set()  # the model names its tools took from _taken
        self._hooked = False
        self._lock = threading.Lock()  # guards the state below: any thread may close it
        self._shut = False  # closed: it starts again only after reset()
        # A start's generation: close(), reset() and a failure end it. A start thread left
        # over from a Ctrl-C (its initialize still waiting) finds it changed and touches
        # nothing but its own session: not the state, nor a session started since.
        self._gen = 0
        self._gate = threading.Lock()  # one start at a time; a new one per generation
        self._notes: list[str] = []

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
        inner = transport.inner if isinstance(transport, _Guarded) else transport
        return inner.pid if isinstance(inner, StdioTransport) else None

    @property
    def session(self) -> Session | None:
        return self._session

    def start(self) -> None:
        """Start it unless it runs: initialize and list its tools. A server that failed
        raises its failure again (it is not retried unless reset). Raises ServerFailed,
        ServerRefused (a 401: exit 3) or ConfigError (a `${VAR}` not set). One start at a
        time: a second thread waits for the first's outcome. Safe to run in a thread while
        another closes it: it then raises ServerFailed "was not started", and changes
        nothing the close (or a start since) did."""
        while self.state != RUNNING:
            with self._lock:
                gen, gate = self._gen, self._gate
            with gate:
                if self._start(gen):
                    return

    def _start(self, gen: int) -> bool:
        """One start of generation `gen`: False when that generation ended before it
        began (start() looks again), True when it runs."""
        with self._lock:
            if self._gen != gen:
                return False
            if self.state == RUNNING:
                return True
            if self._failure is not None:
                raise self._failure
            if self._shut:
                raise self._unstarted()
            if not self._hooked:
                exit_hooks.on_exit(self.close)
                self._hooked = True
        try:
            guard = _Guarded(self._transport())
        except (ConfigError, McpError) as exc:  # a `${VAR}` not set
            raise self._fail(exc, None, gen) or self._unstarted() from None
        # max(30 s, timeout): a server slow to start is given what its calls are.
        timeout = max(START_TIMEOUT, self.spec.timeout)
        session = Session(guard, start_timeout=timeout, trace=self.trace)
        with self._lock:
            if self._gen != gen:  # closed or reset meanwhile: nothing was started yet
                return False
            self._session = session
        try:
            session.open()
            listed = session.list_tools()
        except (ConfigError, McpError) as exc:
            raise self._fail(exc, session, gen) or self._unstarted() from None
        except BaseException:  # a Ctrl-C while it starts: nothing is left half started
            self._close(gen, session)
            raise
        with self._lock:
            # A close may have come after its tools were listed: it is not running then.
            current = self._gen == gen and self._session is session and not self._shut
            if current:
                self._listed = listed
                self._tools = None  # a fresh start lists anew: tools() makes them again
                self._notes = self._unmatched(listed)
                self.state = RUNNING
        if not current:
            with contextlib.suppress(Exception):
                session.close()
            raise self._unstarted()
        return True

    def _unstarted(self) -> ServerFailed:
        return ServerFailed(self.name, f"MCP server {self.name} was not started")

    def _end_generation(self) -> Session | None:
        """Under _lock: end the current start's generation (its start thread, if any, is
        stale from now on) and take its session, for the caller to close."""
        self._gen += 1
        self._gate = threading.Lock()
        session, self._session = self._session, None
        return session

    def reset(self) -> None:
        """Forget a failure or a stop, so the next start is a fresh one (a new process, a
        new session): what a user's explicit `/tools NAME` asks of a server that failed."""
        with self._lock:
            if self.state == RUNNING:
                return
            session = self._end_generation()
            self._shut = False
            self._failure = None
            self.error = None
            self.state = NOT_STARTED
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()

    def take_notes(self) -> list[str]:
        """Warnings its last start found (an allow or deny entry naming no tool it
        lists), once."""
        notes, self._notes = self._notes, []
        return notes

    def _unmatched(self, listed: list[McpTool]) -> list[str]:
        names = {tool.name for tool in listed}
        return [
            f'[mcp.{self.name}] {key} names "{entry}", which {self.name} does not offer'
            for key, entries in (("allow", self.spec.allow), ("deny", self.spec.deny))
            for entry in entries
            if entry not in names
        ]

    def tools(self) -> list[Tool]:
        """Its tools but the denied ones, each with a model name unique in the run;
        starts it if need be (a failed server raises its failure)."""
        if self.state != RUNNING or self._tools is None:
            self.start()
        if self._tools is None:
            offered = [tool for tool in self._listed if tool.name not in self.spec.deny]
            self._taken -= self._given  # a fresh start gets the names it had before
            given = names.assign(self.name, [tool.name for tool in offered], self._taken)
            self._given = set(given.values())
            self._tools = [ServerTool(self, tool, given[tool.name]) for tool in offered]
        return list(self._tools)

    def denied(self) -> int:
        """How many of the tools it listed are denied."""
        return sum(1 for tool in self._listed if tool.name in self.spec.deny)

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
        with self._lock:
            session, gen = self._session, self._gen
        if session is None:  # closed since it started (a Ctrl-C, the exit hooks)
            raise self._unstarted()
        try:
            return session.call_tool(tool, args, timeout=timeout or self.spec.timeout)
        except ServerRateLimited:
            raise  # a busy server is not a broken one: this call failed, the next may not
        except McpError as exc:
            raise self._fail(exc, session, gen) or exc from None

    def close(self) -> None:
        """Stop it (a command's process group: stdin closed, TERM, KILL; HTTP: DELETE);
        safe to call twice, and from another thread while it starts. A failed server
        stays failed; a closed one starts again only after reset()."""
        self._close(None, None)

    def _close(self, gen: int | None, own: Session | None) -> None:
        """Close it if `gen` is still its generation (None: whatever runs), and `own`, the
        session a start made, in any case: a stale start closes only what is its own."""
        taken = None
        with self._lock:
            if gen is None or gen == self._gen:
                self._shut = True
                taken = self._end_generation()
                if self.state == RUNNING:
                    self.state = STOPPED
        for session in {id(s): s for s in (own, taken) if s is not None}.values():
            with contextlib.suppress(Exception):
                session.close()

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
        return StdioTransport(self.name, argv, log=log, env=env, cwd=self._cwd())

    def _cwd(self) -> Path | None:
        """`cwd` with `${VAR}` filled (`cwd = "${PROJECT_DIR}"`)."""
        if self.spec.cwd is None:
            return None
        where = f"[mcp.{self.name}] cwd"
        return Path(expand(str(self.spec.cwd), self.environ, where=where)).expanduser()

    def _environment(self) -> dict[str, str]:
        """aimlchat's environment (PATH, proxies, the tokens a server reads) but its API
        key, as for a command tool: a third-party program gets the key only when the config
        hands it over (`env = { AIML_API_KEY = "${AIML_API_KEY}" }`); plus `env` with its
        `${VAR}` filled."""
        env = tool_environment(self.environ)
        for key, value in self.spec.env.items():
            where = f"[mcp.{self.name}] env.{key}"
            env[key] = expand(value, self.environ, where=where, secret=is_secret_name(key))
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

    def _fail(
        self, exc: ConfigError | McpError, session: Session | None, gen: int
    ) -> ConfigError | McpError | None:
        """Remember why it failed, in one line with its stderr's last lines, and stop
        `session` (the one that failed: not one started since). None when generation
        `gen` had already ended (it was closed under the start or call): nothing is
        remembered then, the failure being the close's doing."""
        if isinstance(exc, ServerFailed):
            message = exc.message
            if exc.tail and "its stderr ends:" not in message:
                message += f"; its stderr ends: {' | '.join(exc.tail)}"
            hint = exc.hint or (f"its log: {self.log}" if self.log is not None else None)
            exc = exc.retold(message, hint=hint)  # its class (and exit code) kept
        taken = None
        with self._lock:
            current = gen == self._gen
            if current:
                self.state = FAILED
                self.error = exc.message
                self._failure = exc
                self._shut = True
                taken = self._end_generation()
        for each in {id(s): s for s in (session, taken) if s is not None}.values():
            with contextlib.suppress(Exception):
                each.close()
        return exc if current else None


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
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.taken: set[str] = set(reserved)
        self._servers = {
            name: Server(spec, log_dir=log_dir, environ=environ, taken=self.taken, trace=trace)
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


def start_all(servers: Sequence[Server], *, say: Callable[[str], None] | None = None) -> None:
    """Start `servers` at once, a thread each, and wait for them all; a start slower
    than NOTICE_AFTER is said once per server through `say`. A failure stays with its
    server (its tools() raises it again). A Ctrl-C or SIGTERM while waiting closes every
    one of them, one that just started too ("not started" or "stopped"), and goes on up:
    a start thread still running then is stale (Server._gen) and changes nothing."""
    pending = [s for s in servers if s.state not in (RUNNING, FAILED)]
    if not pending:
        return
    unexpected: list[BaseException] = []
    done = {server.name: threading.Event() for server in pending}

    def run(server: Server) -> None:
        try:
            server.start()
        except (McpError, ConfigError):
            pass  # kept by the server: its tools() raises it again
        except BaseException as exc:  # a bug: raised again in the main thread
            unexpected.append(exc)
        finally:
            done[server.name].set()

    for server in pending:
        name = f"mcp-start-{server.name}"
        threading.Thread(target=run, args=(server,), name=name, daemon=True).start()
    told = False
    deadline = time.monotonic() + NOTICE_AFTER
    try:
        for server in pending:
            # Short waits: a signal's exception is raised between them. (Not Thread.join:
            # one that a KeyboardInterrupt cuts short may then call a live thread ended.)
            while not done[server.name].wait(_TICK):
                if not told and time.monotonic() >= deadline:
                    told = True
                    for other in pending:
                        if not done[other.name].is_set() and say is not None:
                            say(f"starting MCP server {other.name}…")
    except BaseException:
        for server in pending:  # every one, started or not: the run is being left
            with contextlib.suppress(Exception):
                server.close()
        end = time.monotonic() + _JOIN_GRACE
        for server in pending:
            done[server.name].wait(max(0.0, end - time.monotonic()))
        raise
    if unexpected:
        raise unexpected[0]
