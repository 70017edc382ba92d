"""Every call that only some operating systems have, each behind one small function.

POSIX-only calls (file modes, process groups, termios, `/dev/tty`, flock, `$SHELL`, vi)
live here and nowhere else in aimlchat (a test scans the source for strays). On Windows
each function takes its own path (msvcrt, CONIN$/CONOUT$, taskkill, %COMSPEC%, notepad,
clip) or raises `Unsupported`: one line saying what is not available, never an
AttributeError or ImportError. The platform is read at call time, so tests can pretend.

Named `osplatform`, not `platform`: the stdlib's `platform` is imported beside it
(chat/shellcmd.py), and one name for two modules misleads every reader.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from aimlchat.errors import Unsupported

# Windows locks are mandatory byte ranges: lock one byte far past any real end of file,
# so readers and our own appends are never blocked by it.
_WINDOWS_LOCK_OFFSET = 1 << 40  # 1 TiB


def is_windows() -> bool:
    return sys.platform == "win32"


def system_name() -> str:
    return {"win32": "Windows", "darwin": "macOS"}.get(sys.platform, sys.platform)


def _unsupported(what: str) -> Unsupported:
    return Unsupported(f"{what} is not available on {system_name()}")


def _module(name: str, what: str) -> ModuleType:
    """Import `name` (termios, msvcrt…), or say in one line that `what` cannot be done."""
    try:
        return __import__(name)
    except ImportError:
        raise _unsupported(what) from None


# Files


def fchmod(fd: int, mode: int) -> None:
    """Set the mode of the open file `fd` where modes exist. Windows has none to set (before
    3.13 no os.fchmod at all): there the user's profile folder's ACL keeps files private."""
    chmod = getattr(os, "fchmod", None)
    if chmod is not None and not is_windows():
        chmod(fd, mode)


def lock_exclusive(fd: int) -> bool:
    """Lock the open file `fd` for this process without waiting; False when another process
    holds the lock. Released when `fd` is closed. Where no lock exists, True (unlocked)."""
    if is_windows():
        msvcrt = _module("msvcrt", "locking a file")
        here = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, here, os.SEEK_SET)
        return True
    try:
        import fcntl
    except ImportError:  # neither POSIX nor Windows: go on unlocked, as before
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# Processes


def new_group_options() -> dict[str, Any]:
    """Popen keywords that start a command in a process group of its own, so it can be
    stopped whole and a Ctrl-C on the terminal does not reach it."""
    if is_windows():
        return {"creationflags": 0x200}  # subprocess.CREATE_NEW_PROCESS_GROUP
    return {"start_new_session": True}


def terminate_group(pid: int) -> None:
    """Ask the group that `pid` leads to stop: SIGTERM, or CTRL_BREAK on Windows."""
    if is_windows():
        with contextlib.suppress(OSError):
            os.kill(pid, 1)  # signal.CTRL_BREAK_EVENT, which only Windows' signal module has
        return
    import signal

    _signal_group(pid, signal.SIGTERM)


def kill_group(pid: int) -> None:
    """Kill the group that `pid` leads: SIGKILL, or `taskkill /T /F` (the whole tree) on
    Windows. A group already gone is fine."""
    if is_windows():
        import subprocess

        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["taskkill", "/T", "/F", "/PID", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
                timeout=10,
            )
        return
    import signal

    _signal_group(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _signal_group(pid: int, sig: int) -> None:
    killpg = getattr(os, "killpg", None)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if killpg is None:  # no process groups here: the leader at least
            os.kill(pid, sig)
        else:
            killpg(pid, sig)


def exited_unreaped(pid: int) -> bool | None:
    """Has child `pid` exited? Asked without reaping it (while it is an unreaped zombie its
    group id cannot be reused). None where the OS cannot tell that (Windows, macOS before
    Python 3.13): the caller then polls, which reaps."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return None
    try:
        info = waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def shell(environ: Mapping[str, str]) -> str:
    """The user's shell: $SHELL (else /bin/sh); on Windows %COMSPEC% (else cmd.exe)."""
    if is_windows():
        return environ.get("COMSPEC") or environ.get("ComSpec") or "cmd.exe"
    return environ.get("SHELL") or "/bin/sh"


def shell_variable() -> str:
    """Where the user chooses the shell, for hints."""
    return "%COMSPEC%" if is_windows() else "$SHELL"


def shell_argv(environ: Mapping[str, str], command: str) -> list[str]:
    """`shell -c COMMAND`, or `cmd.exe /c COMMAND` on Windows."""
    return [shell(environ), "/c" if is_windows() else "-c", command]


def default_editor() -> str:
    """The editor when neither $VISUAL nor $EDITOR is set."""
    return "notepad" if is_windows() else "vi"


def clipboard_tool(environ: Mapping[str, str]) -> tuple[list[str], str] | None:
    """This machine's clipboard program and the encoding it reads on stdin; None if none.
    clip.exe takes UTF-16 with a byte-order mark (anything else is read as the OEM code page)."""
    import shutil

    if is_windows():
        return (["clip"], "utf-16") if shutil.which("clip") else None
    candidates: list[list[str]] = []
    if sys.platform == "darwin":
        candidates.append(["pbcopy"])
    if environ.get("WAYLAND_DISPLAY"):
        candidates.append(["wl-copy"])
    if environ.get("DISPLAY"):
        candidates += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    for argv in candidates:
        if shutil.which(argv[0]):
            return argv, "utf-8"
    return None


# The terminal


def open_terminal() -> tuple[int, int] | None:
    """Descriptors (in, out) on the controlling terminal: `/dev/tty`, or the console's
    CONIN$ and CONOUT$ on Windows. None when there is none (cron, CI, `setsid`)."""
    try:
        if is_windows():
            fd_in = os.open("CONIN$", os.O_RDONLY)
            try:
                return fd_in, os.open("CONOUT$", os.O_WRONLY)
            except OSError:
                os.close(fd_in)
                raise
        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    return fd, fd


def in_foreground(fd: int) -> bool:
    """Whether this process's group owns the terminal on `fd`. Without job control
    (Windows) a process is never in the background."""
    tcgetpgrp = getattr(os, "tcgetpgrp", None)
    getpgrp = getattr(os, "getpgrp", None)
    if tcgetpgrp is None or getpgrp is None:
        return True
    try:
        return bool(tcgetpgrp(fd) == getpgrp())
    except OSError:
        return False


def echo_off(fd: int) -> list[Any] | None:
    """Stop the terminal echoing keys typed on `fd`; the modes to give `restore_modes`, or
    None when nothing was changed (Windows echoes only while a read is waiting)."""
    try:
        import termios
    except ImportError:
        return None
    try:
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (termios.error, OSError, ValueError):
        return None
    return saved


def restore_modes(fd: int, saved: list[Any]) -> None:
    """Put back modes that `echo_off` returned."""
    try:
        import termios
    except ImportError:
        return
    with contextlib.suppress(termios.error, OSError, ValueError):
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def flush_input(fd: int) -> None:
    """Forget keys typed on the terminal `fd` and not read yet."""
    if is_windows():
        msvcrt = _module("msvcrt", "throwing away keys typed ahead")
        while msvcrt.kbhit():
            msvcrt.getwch()
        return
    termios = _module("termios", "throwing away keys typed ahead")
    termios.tcflush(fd, termios.TCIFLUSH)


def take_input(fd: int) -> bytes:
    """What was typed on the terminal `fd` and not read yet, an unfinished line too, taken
    without waiting; nothing is left queued. Empty from the background, where touching
    the terminal's modes would stop the process (SIGTTOU)."""
    if is_windows():
        msvcrt = _module("msvcrt", "taking keys typed ahead")
        keys = []
        while msvcrt.kbhit():
            keys.append(msvcrt.getwch())
        return "".join(keys).encode("utf-8")
    termios = _module("termios", "taking keys typed ahead")
    if not in_foreground(fd):
        return b""
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:  # not a terminal (any more): nothing typed on it to take
        return b""
    now = list(saved)
    now[3] &= ~termios.ICANON  # a line not ended with Enter becomes readable too
    now[6] = list(saved[6])
    now[6][termios.VMIN], now[6][termios.VTIME] = 0, 0  # read what is there, never wait
    taken = bytearray()
    try:
        termios.tcsetattr(fd, termios.TCSANOW, now)
        while chunk := os.read(fd, 4096):
            taken += chunk
    except (termios.error, OSError):
        pass  # the terminal went away meanwhile: what was taken is all there is
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)
            termios.tcflush(fd, termios.TCIFLUSH)  # a key that came in between: too early
    return bytes(taken)


def point_at_devnull(fds: Iterable[int]) -> None:
    """Point each of `fds` at the null device (os.devnull: nul on Windows), as far as it
    can: the terminal's outputs after a hangup, stdout once its reader went away, a
    descriptor the caller closed (so the next file opened does not take its number). The
    null device's own descriptor is closed after, unless it is one of `fds` (the lowest
    closed one, where it already is)."""
    wanted = list(fds)
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in wanted:
            if fd != null:
                with contextlib.suppress(OSError):
                    os.dup2(null, fd)
    finally:
        if null not in wanted:
            os.close(null)


def read_key_bytes(fd: int) -> bytes:
    """The bytes of the next key pressed on terminal `fd`, without waiting for Enter: one
    character or a whole escape sequence; empty at end of input. Ctrl-C raises
    KeyboardInterrupt, as it does on a line."""
    if is_windows():
        msvcrt = _module("msvcrt", "reading a single key")
        key = msvcrt.getwch()
        if key == "\x03":
            raise KeyboardInterrupt
        if key in ("\x00", "\xe0"):  # an arrow or function key comes as two
            key += msvcrt.getwch()
        return str(key).encode("utf-8")
    termios = _module("termios", "reading a single key")
    tty = _module("tty", "reading a single key")
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        return os.read(fd, 16)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def require_selectable_pipes() -> None:
    """The tool runner waits on a child's pipes with `selectors`; Windows' select() takes
    sockets only, so there it is refused in one line rather than failing mid-run."""
    if is_windows():
        raise _unsupported("running a tool command")
