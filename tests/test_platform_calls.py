"""POSIX-only calls live in aimlchat/osplatform.py alone; where a system lacks one (Windows,
simulated here by removing it), aimlchat takes another path or says in one line what is
not available, never an AttributeError or ImportError."""

from __future__ import annotations

import ast
import io
import os
import select
import subprocess
import sys
import types
from pathlib import Path

import pytest

from aimlchat import osplatform
from aimlchat.batch.outfile import _lock
from aimlchat.chat.shellcmd import system_prompt
from aimlchat.errors import Unsupported, UsageError
from aimlchat.fsutil import atomic_write, private_file
from aimlchat.terminal.clipboard import copy
from aimlchat.terminal.editor import editor_command
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.keypress import drop_typeahead, read_key
from aimlchat.terminal.output import Output
from aimlchat.tools.process import run_command

PACKAGE = Path(osplatform.__file__).parent
POSIX_MODULES = {"termios", "tty", "pty", "fcntl", "msvcrt"}
POSIX_CALLS = {"fchmod", "killpg", "tcgetpgrp", "getpgrp", "waitid", "setsid", "tcsetpgrp"}


def _strays(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            POSIX_MODULES | {"os"}
        ):
            found += [f"from {node.module}" for a in node.names if node.module != "os"]
            found += [a.name for a in node.names if node.module == "os" and a.name in POSIX_CALLS]
        elif isinstance(node, ast.Attribute) and node.attr in POSIX_CALLS:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"os.{node.attr}")
        elif isinstance(node, ast.Constant) and node.value == "/dev/tty":
            found.append("/dev/tty")
        elif isinstance(node, ast.keyword) and node.arg == "start_new_session":
            found.append("start_new_session=")
    return [f"{path.relative_to(PACKAGE.parent)}: {name}" for name in found]


def test_no_module_but_osplatform_makes_a_posix_only_call():
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "osplatform.py":
            strays += _strays(path)
    assert strays == []


def test_the_scan_sees_a_stray_call(tmp_path):
    sample = PACKAGE / "_scan_sample.py"  # inside the package, for relative_to; removed below
    sample.write_text('import termios\nimport os\nos.killpg(1, 9)\nopen("/dev/tty")\n')
    try:
        assert len(_strays(sample)) == 3
    finally:
        sample.unlink()


# Files


def test_private_files_are_written_where_os_has_no_fchmod(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "fchmod")
    atomic_write(tmp_path / "a" / "f", b"data")
    assert (tmp_path / "a" / "f").read_bytes() == b"data"
    assert private_file(tmp_path / "b" / "key").exists()


def test_on_windows_no_mode_is_set(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: calls.append(mode), raising=False)
    atomic_write(tmp_path / "f", b"x")
    assert calls == [] and (tmp_path / "f").read_bytes() == b"x"


def test_a_second_lock_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"")
    first = os.open(path, os.O_RDWR | os.O_APPEND)
    second = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        assert osplatform.lock_exclusive(first)
        with pytest.raises(UsageError, match="being written by another aimlchat batch"):
            _lock(second, path)
    finally:
        os.close(first)
        os.close(second)


def test_without_fcntl_a_batch_file_is_used_unlocked(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` raises ImportError
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        _lock(fd, tmp_path / "out")
    finally:
        os.close(fd)


def _fake_msvcrt(monkeypatch, **attrs):
    fake = types.SimpleNamespace(LK_NBLCK=2, **attrs)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    return fake


def test_on_windows_the_lock_is_one_byte_past_any_end_and_the_position_is_kept(
    monkeypatch, tmp_path
):
    seen = []
    _fake_msvcrt(monkeypatch, locking=lambda fd, mode, n: seen.append(os.lseek(fd, 0, 1)))
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"abc")
        assert osplatform.lock_exclusive(fd)
        assert seen == [1 << 40] and os.lseek(fd, 0, 1) == 3
    finally:
        os.close(fd)


def test_on_windows_a_lock_held_elsewhere_is_refused(monkeypatch, tmp_path):
    def held(fd, mode, n):
        raise PermissionError(13, "Permission denied")

    _fake_msvcrt(monkeypatch, locking=held)
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    try:
        with pytest.raises(UsageError, match="being written by another"):
            _lock(fd, tmp_path / "out")
    finally:
        os.close(fd)


# Processes


def test_a_tool_past_its_timeout_is_stopped_where_os_has_no_killpg(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "killpg")
    outcome = run_command(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        b"",
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=1.0,
    )
    assert outcome.timed_out and outcome.stdout == b"up\n"


def test_a_tool_runs_where_os_has_no_waitid(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "waitid", raising=False)
    outcome = run_command(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
        b"hello",
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=30,
    )
    assert outcome.returncode == 0 and outcome.stdout == b"hello"


def test_on_windows_a_tool_command_is_refused_in_one_line(monkeypatch, tmp_path):
    from aimlchat.tools.process import CannotStart

    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(CannotStart, match=r"^running a tool command is not available on Windows$"):
        run_command(["true"], b"", cwd=tmp_path, env={}, timeout=5)


def test_on_windows_groups_are_made_and_stopped_the_windows_way(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert osplatform.new_group_options() == {"creationflags": 0x200}
    sent, ran = [], []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: ran.append(argv))
    monkeypatch.delattr(os, "killpg")
    osplatform.terminate_group(4321)
    osplatform.kill_group(4321)
    assert sent == [(4321, 1)]  # CTRL_BREAK_EVENT to the group
    assert ran == [["taskkill", "/T", "/F", "/PID", "4321"]]


# The terminal


def test_reading_a_key_without_termios_says_so_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "termios", None)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(Unsupported, match=r"^reading a single key is not available on linux$"):
        read_key(0)
    with pytest.raises(Unsupported, match=r"^throwing away keys typed ahead is not available"):
        drop_typeahead(0)


def test_on_windows_without_msvcrt_the_error_names_windows(monkeypatch):
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(Unsupported, match=r"^reading a single key is not available on Windows$"):
        read_key(0)


def test_on_windows_keys_come_from_the_console(monkeypatch):
    keys = iter(["y", "\xe0", "H", "\x03"])
    pending = iter([True, True, False])
    _fake_msvcrt(monkeypatch, getwch=lambda: next(keys), kbhit=lambda: next(pending))
    drop_typeahead(0)  # throws away "y" and "\xe0" while keys are waiting
    assert read_key(0) == "H"
    with pytest.raises(KeyboardInterrupt):
        read_key(0)


def test_on_windows_an_arrow_key_is_read_whole(monkeypatch):
    keys = iter(["\xe0", "H"])
    _fake_msvcrt(monkeypatch, getwch=lambda: next(keys))
    assert read_key(0) == "\xe0H"


def test_without_job_control_echo_and_foreground_are_left_alone(monkeypatch):
    monkeypatch.delattr(os, "tcgetpgrp")
    monkeypatch.setitem(sys.modules, "termios", None)
    assert osplatform.in_foreground(0) is True
    assert osplatform.echo_off(0) is None


def test_echo_off_on_a_file_that_is_no_terminal_changes_nothing(tmp_path):
    with open(tmp_path / "f", "w") as fh:
        assert osplatform.echo_off(fh.fileno()) is None


def test_on_windows_consent_asks_on_the_console(monkeypatch):
    opened = []

    def fake_open(name, flags, *args):
        opened.append(name)
        return 100 + len(opened)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "open", fake_open)
    assert osplatform.open_terminal() == (101, 102)
    assert opened == ["CONIN$", "CONOUT$"]


# Shell, editor, clipboard


def test_on_windows_cmd_uses_comspec_not_a_posix_shell(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "win32")
    environ = {"COMSPEC": "C:\\Windows\\system32\\cmd.exe", "SHELL": "/usr/bin/bash"}
    assert osplatform.shell_argv(environ, "dir") == [environ["COMSPEC"], "/c", "dir"]
    assert "Shell: C:\\Windows\\system32\\cmd.exe" in system_prompt(environ, tmp_path)
    assert osplatform.shell_argv({}, "dir") == ["cmd.exe", "/c", "dir"]


def test_posix_shell_is_shell_else_bin_sh(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert osplatform.shell_argv({"SHELL": "/bin/zsh"}, "ls") == ["/bin/zsh", "-c", "ls"]
    assert osplatform.shell_argv({}, "ls") == ["/bin/sh", "-c", "ls"]


def test_the_default_editor_is_notepad_on_windows_and_vi_elsewhere(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert editor_command({}) == ["notepad"]
    monkeypatch.setattr(sys, "platform", "darwin")
    assert editor_command({}) == ["vi"]


def test_on_macos_pbcopy_is_the_clipboard_tool(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert osplatform.clipboard_tool({}) == (["pbcopy"], "utf-8")


def test_on_windows_clip_gets_utf16_with_a_byte_order_mark(monkeypatch, tmp_path):
    log = tmp_path / "copied"
    tool = tmp_path / "clip"
    tool.write_text(f'#!/bin/sh\ncat > "{log}"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("shutil.which", lambda name: str(tool) if name == "clip" else None)
    monkeypatch.setattr(sys, "platform", "win32")
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    assert copy("café", Output(env), {}) == ["clip"]
    assert log.read_bytes() == "café".encode("utf-16") and log.read_bytes()[:2] == b"\xff\xfe"


# The POSIX paths, on a real pseudo-terminal


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_on_a_pty_echo_goes_off_and_comes_back():
    import termios

    master, slave = os.openpty()
    try:
        saved = osplatform.echo_off(slave)
        assert saved is not None and not termios.tcgetattr(slave)[3] & termios.ECHO
        osplatform.restore_modes(slave, saved)
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_on_a_pty_keys_typed_ahead_are_dropped_and_the_next_key_is_read():
    import termios

    master, slave = os.openpty()
    try:
        os.write(master, b"yes\n")
        assert select.select([slave], [], [], 30)[0]  # the line has reached the terminal
        drop_typeahead(slave)
        os.write(master, b"n")
        assert read_key(slave) == "n"
        assert termios.tcgetattr(slave)[3] & termios.ICANON  # line mode is back
    finally:
        os.close(master)
        os.close(slave)
