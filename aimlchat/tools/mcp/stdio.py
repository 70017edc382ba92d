"""An MCP server run as a command: JSON-RPC messages as lines on its stdin and stdout.

The command starts in a process group of its own (osplatform), so a Ctrl-C on the
terminal does not reach it and `close` stops it whole, grandchildren included: stdin
closed (the polite way the specification asks for), then TERM to the group, then KILL.
Its stderr goes to a log file the caller names (with none, `--no-history`, only its last
bytes are kept, in memory); the last lines of what it wrote there are what a "the server
died" message shows. Stdout is read by a thread into an Inbox,
so no read waits longer than the session allows. A line on stdout that is no JSON-RPC
message (a banner, logging where it does not belong) is skipped, not fatal: some servers
print one and then work. It goes to the same log (or tail) as `stdout: …`, one line of
at most STRAY_WIDTH characters, so that when such a server then fails, what it printed
is in the message.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from aimlchat.errors import redact
from aimlchat.osplatform import exited_unreaped, kill_group, new_group_options, terminate_group
from aimlchat.tools.mcp import jsonrpc
from aimlchat.tools.mcp.errors import ServerFailed
from aimlchat.tools.mcp.inbox import Inbox
from aimlchat.words import elide

MAX_MESSAGE = 32 * 1024 * 1024  # one line of JSON; past this the server is misbehaving
EOF_GRACE = 0.5  # seconds a server gets to leave on its own once its stdin is closed
KILL_GRACE = 1.0  # seconds between TERM and KILL
TAIL_LINES = 3
STRAY_WIDTH = 200  # characters of a stray stdout line kept
STRAY_LOGGED = 100  # stray stdout lines logged in a run; past this, one line says so
_TAIL_BYTES = 4096
_TICK = 0.02
# Seconds to let a server's stderr pipe drain into the tail: short while it may still
# run (a timeout: its stderr stays open), longer once it has exited (EOF is certain).
_LAST_WORDS = 0.3
_LAST_WORDS_EXITED = 2.0


class Gone(Exception):
    """No more messages will come: the server exited or closed its stdout."""


class StdioTransport:
    def __init__(
        self,
        server: str,
        argv: Sequence[str],
        *,
        log: Path | None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.server = server
        self.argv = list(argv)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.inbox = Inbox()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log_start = 0
        self._write_lock = threading.Lock()
        self._tail = b""  # without a log: the last bytes of its stderr
        self._tail_lock = threading.Lock()
        self._err_reader: threading.Thread | None = None
        self._strays = 0

    @property
    def pid(self) -> int | None:
        """The server's process (and group) id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self.log is None:  # --no-history: its stderr is kept in memory, the tail only
            self._spawn(subprocess.PIPE)
            assert self._proc is not None
            self._err_reader = threading.Thread(
                target=self._keep_tail,
                args=(self._proc.stderr,),
                name=f"mcp-{self.server}-stderr",
                daemon=True,
            )
            self._err_reader.start()
        else:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "ab") as err:
                self._log_start = err.tell()  # the tail shown is this run's, not an older one's
                self._spawn(err)
        assert self._proc is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name=f"mcp-{self.server}", daemon=True
        )
        self._reader.start()

    def _spawn(self, stderr: IO[bytes] | int) -> None:
        cwd = self.cwd
        if cwd is not None and not cwd.is_dir():  # else Popen's ENOENT names the program
            why = "is not a folder" if cwd.exists() else "does not exist"
            raise self._bad_cwd(f"its cwd {cwd} {why}")
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=self.cwd,
                env=self.env,
                close_fds=True,
                **new_group_options(),
            )
        except OSError as exc:
            why = exc.strerror or str(exc)
            if cwd is not None and exc.filename == os.fspath(cwd):  # the child's chdir failed
                raise self._bad_cwd(f"cannot enter its cwd {cwd}: {why}") from None
            raise ServerFailed(
                self.server, f"MCP server {self.server}: cannot start {self.argv[0]}: {why}"
            ) from None

    def _bad_cwd(self, why: str) -> ServerFailed:
        return ServerFailed(
            self.server,
            f"MCP server {self.server}: cannot start: {why}",
            hint=f"fix cwd in [mcp.{self.server}] in config.toml",
        )

    def _keep_tail(self, err: IO[bytes] | None) -> None:
        """Read its stderr as it comes, keeping the last bytes only (no file, no growth)."""
        if err is None:
            return
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(err.fileno(), _TAIL_BYTES):
                with self._tail_lock:
                    self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
        with contextlib.suppress(OSError):
            err.close()

    def send(self, msg: jsonrpc.Message) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise Gone("is not running")
        line = jsonrpc.encode(msg) + b"\n"  # outside the try: only the pipe means Gone
        try:
            with self._write_lock:
                proc.stdin.write(line)
                proc.stdin.flush()
        except (OSError, ValueError):  # a broken pipe, or stdin already closed
            raise Gone("exited") from None

    def receive(self, timeout: float) -> jsonrpc.Message | None:
        return self.inbox.get(timeout)

    def negotiated(self, version: str) -> None:
        """Nothing to do: a stdio server knows its version from initialize alone."""

    def abandon(self, ident: int) -> None:
        """Nothing to stop: a late answer to `ident` comes on stdout and is ignored."""

    def tail(self) -> tuple[str, ...]:
        """The last lines the server wrote on stderr since it started here."""
        if self.log is None:
            if self._err_reader is not None:  # a server that just died: its last words
                proc = self._proc
                gone = proc is None or exited_unreaped(proc.pid) is True
                self._err_reader.join(timeout=_LAST_WORDS_EXITED if gone else _LAST_WORDS)
            with self._tail_lock:
                data = self._tail
        else:
            try:
                with open(self.log, "rb") as f:
                    size = f.seek(0, os.SEEK_END)
                    f.seek(max(self._log_start, size - _TAIL_BYTES))
                    data = f.read()
            except OSError:
                return ()
        lines = [" ".join(line.split()) for line in data.decode("utf-8", "replace").splitlines()]
        kept = [line for line in lines if line][-TAIL_LINES:]
        # The window may begin inside a line, and a stray line ends cut with `…`: no part
        # of a secret at either edge.
        return tuple(redact.cut(line, start=index == 0) for index, line in enumerate(kept))

    def close(self) -> None:
        """Stop the server and every process in its group; safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            with contextlib.suppress(OSError, ValueError):
                if proc.stdin is not None:
                    proc.stdin.close()
            # Waited on without reaping: while the leader is an unreaped zombie its
            # group id cannot be reused, so the TERM and KILL below reach no stranger.
            if not self._wait_exit(proc, EOF_GRACE):
                terminate_group(proc.pid)
                self._wait_exit(proc, KILL_GRACE)
        finally:
            kill_group(proc.pid)  # also when the leader left: a child may linger in the group
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            if self._reader is not None:
                self._reader.join(timeout=1.0)
                if not self._reader.is_alive() and proc.stdout is not None:
                    proc.stdout.close()

    def _wait_exit(self, proc: subprocess.Popen[bytes], grace: float) -> bool:
        end = time.monotonic() + grace
        while True:
            exited = exited_unreaped(proc.pid)
            if exited is None:
                exited = proc.poll() is not None
            if exited or time.monotonic() >= end:
                return exited
            time.sleep(_TICK)

    def _read(self, out: IO[bytes] | None) -> None:
        if out is None:
            return
        try:
            while line := out.readline(MAX_MESSAGE + 1):
                if len(line) > MAX_MESSAGE:
                    self.inbox.put(Gone(f"sent a message over {MAX_MESSAGE >> 20} MiB"))
                    return
                if not line.strip():
                    continue
                try:
                    messages = jsonrpc.decode(line)
                except ValueError:  # a banner, logging: kept to show should it fail
                    self._stray(line)
                    continue
                for msg in messages:
                    self.inbox.put(msg)
        except (OSError, ValueError):
            pass
        self.inbox.put(Gone("exited"))

    def _stray(self, line: bytes) -> None:
        """Keep a stdout line that is no message where its stderr goes, as one line."""
        self._strays += 1
        if self._strays > STRAY_LOGGED + 1:
            return
        if self._strays > STRAY_LOGGED:
            text = f"more lines that are not MCP messages, not kept (past {STRAY_LOGGED})"
        else:
            text = elide(line.decode("utf-8", "replace"), STRAY_WIDTH)
        data = f"stdout: {text}\n".encode()
        if self.log is None:
            with self._tail_lock:  # on a line of its own, even amid a line of its stderr
                lead = b"\n" if self._tail and not self._tail.endswith(b"\n") else b""
                self._tail = (self._tail + lead + data)[-_TAIL_BYTES:]
            return
        with contextlib.suppress(OSError), open(self.log, "ab") as log:
            # O_APPEND: whole, after what its stderr wrote so far; the newline first keeps
            # it on a line of its own when that stopped mid-line (the tail drops the blank).
            log.write(b"\n" + data)
