"""Run one command with bytes on stdin, its output capped, within a deadline.

The command gets its own session (so its own process group), which is how it is stopped
whole: a timeout or a Ctrl-C signals the group, grandchildren included. Output is read as
it comes, so a tool printing megabytes never blocks on a full pipe, and whatever is past
the cap is read and dropped, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from aimlchat.errors import Unsupported
from aimlchat.osplatform import (
    exited_unreaped,
    kill_group,
    new_group_options,
    require_selectable_pipes,
    terminate_group,
)
from aimlchat.record import record

# The default cap; a tool call's comes from the model's window (tools.protocol).
STDOUT_CAP = 64 * 1024
STDERR_TAIL = 2 * 1024
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
# After the command exits, how long to wait for pipes a leftover child still holds.
DRAIN_GRACE = 0.5
_READ = 64 * 1024
_WRITE = 16 * 1024
_TICK = 0.1


class CannotStart(Exception):
    """The command could not be started (not found, not executable)."""


@record()
class Outcome:
    returncode: int | None  # None: timed out (or stopped)
    stdout: bytes
    stdout_total: int
    stderr_tail: bytes
    stderr_total: int
    timed_out: bool = False


class _Capped:
    """Keeps the first `cap` bytes (`head=True`) or the last `cap` bytes; counts them all."""

    def __init__(self, cap: int, *, head: bool) -> None:
        self.cap = cap
        self.head = head
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.head:
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
        else:
            self.data += chunk[-self.cap :]
            del self.data[: max(0, len(self.data) - self.cap)]


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Has the command exited? Without reaping it where the OS allows: while it is an
    unreaped zombie its process-group id cannot be reused, so signalling the group
    afterwards cannot hit a stranger."""
    if proc.returncode is not None:
        return True
    exited = exited_unreaped(proc.pid)
    return proc.poll() is not None if exited is None else exited


def stop_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """SIGTERM to the whole group, SIGKILL after `grace`, then reap. A second Ctrl-C
    during the grace still ends in the SIGKILL."""
    try:
        terminate_group(proc.pid)
        end = time.monotonic() + grace
        while time.monotonic() < end and not _exited(proc):
            time.sleep(0.02)
    finally:
        # Also for a group whose leader left on TERM: a grandchild may ignore it.
        kill_group(proc.pid)
        with contextlib.suppress(OSError):
            proc.kill()  # should the group signal have failed, never wait forever below
        proc.wait()
        _close(proc)


def _close(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def spawn(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    try:
        require_selectable_pipes()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            close_fds=True,
            **new_group_options(),  # its own group: stopped whole, and no Ctrl-C from the tty
        )
    except Unsupported as exc:
        raise CannotStart(exc.message) from None
    except FileNotFoundError:
        raise CannotStart(f"{argv[0]}: command not found") from None
    except PermissionError:
        raise CannotStart(f"{argv[0]}: permission denied (is it executable?)") from None
    except OSError as exc:
        raise CannotStart(f"{argv[0]}: {exc.strerror or exc}") from None


class _Pump:
    def __init__(self, proc: subprocess.Popen[bytes], stdin: bytes, cap: int) -> None:
        self.proc = proc
        self.pending = memoryview(stdin)
        self.out = _Capped(cap, head=True)
        self.err = _Capped(STDERR_TAIL, head=False)
        self.sel = selectors.DefaultSelector()
        assert proc.stdin and proc.stdout and proc.stderr
        self.sinks: dict[int, _Capped] = {
            proc.stdout.fileno(): self.out,
            proc.stderr.fileno(): self.err,
        }
        for stream in (proc.stdout, proc.stderr):
            self.sel.register(stream, selectors.EVENT_READ)
        if self.pending:
            os.set_blocking(proc.stdin.fileno(), False)
            self.sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()

    def _write(self, stream: IO[Any]) -> None:
        try:
            sent = os.write(stream.fileno(), self.pending[:_WRITE])
        except BlockingIOError:
            return
        except BrokenPipeError:
            sent = len(self.pending)  # it stopped reading: fine, it has what it wanted
        self.pending = self.pending[sent:]
        if not self.pending:
            self.sel.unregister(stream)
            with contextlib.suppress(OSError):
                stream.close()

    def _read(self, stream: IO[Any]) -> None:
        chunk = os.read(stream.fileno(), _READ)
        if chunk:
            self.sinks[stream.fileno()].add(chunk)
        else:
            self.sel.unregister(stream)

    def run(self, deadline: float) -> bool:
        """Move bytes until both outputs close; False when the deadline passed first."""
        exited_at: float | None = None
        while self.sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                return False
            for key, _events in self.sel.select(min(deadline - now, _TICK)):
                stream: IO[Any] = key.fileobj  # type: ignore[assignment]
                if stream is self.proc.stdin:
                    self._write(stream)
                else:
                    self._read(stream)
            if exited_at is None and _exited(self.proc):
                exited_at = time.monotonic()
            elif exited_at is not None and time.monotonic() - exited_at > DRAIN_GRACE:
                return True  # a leftover child holds the pipes; the command is done
        return True

    def close(self) -> None:
        self.sel.close()


def run_command(
    argv: Sequence[str],
    stdin: bytes,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    cap: int = STDOUT_CAP,
) -> Outcome:
    """Run `argv` to completion or `timeout`, keeping the first `cap` bytes of its stdout.
    Any BaseException while it runs (Ctrl-C, SIGTERM) stops the whole process group
    before it propagates."""
    deadline = time.monotonic() + timeout
    proc = spawn(argv, cwd=cwd, env=env)
    pump: _Pump | None = None
    try:
        pump = _Pump(proc, stdin, cap)
        finished = pump.run(deadline)
        if finished:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                finished = False
    except BaseException:
        stop_group(proc)
        raise
    finally:
        if pump is not None:
            pump.close()
    if finished:
        # Children it left running are its business (a tool may start a viewer).
        _close(proc)
    else:
        stop_group(proc)
    return Outcome(
        returncode=proc.returncode if finished else None,
        stdout=bytes(pump.out.data),
        stdout_total=pump.out.total,
        stderr_tail=bytes(pump.err.data),
        stderr_total=pump.err.total,
        timed_out=not finished,
    )
