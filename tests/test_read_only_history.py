"""History on a read-only file system: what only reads works; what writes warns once
and goes on without saving; `history rm` refuses in one line.

The data folder is made read-only for real: each command runs in a mount namespace of
its own (`unshare -m`) where the folder is bound onto itself read-only, so SQLite meets
EROFS as it would on a read-only mount. (As root, chmod would stop nothing; chattr +i
works only on some file systems.) Needs the right to mount: skipped elsewhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.loopback import LoopbackServer

_BIND_RO = 'mount --bind -o ro "$0" "$0" && exec "$@"'


def _can_mount(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", _BIND_RO, str(tmp), "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.fixture
def data(home: Path) -> Path:
    if not _can_mount(home / "data"):
        pytest.skip("cannot bind-mount read-only here (needs root or a user namespace)")
    return home / "data"


def read_only(
    args: list[str], env: dict[str, str], data: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`aimlchat ARGS` with the data folder (and so history.db) on a read-only mount."""
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", _BIND_RO, str(data), sys.executable, "-m", "aimlchat", *args],
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def saved(data: Path, cli_env: dict[str, str]) -> Path:
    """One conversation in history, written while the folder could still be written."""
    result = run_cli(["ask", "remember the word pelican"], cli_env)
    assert result.returncode == 0, result.stderr
    return next(data.rglob("history.db"))


def test_history_list_show_search_and_export_read_a_read_only_database(
    saved: Path, data: Path, cli_env: dict[str, str]
) -> None:
    listed = read_only(["history", "list"], cli_env, data)
    assert listed.returncode == 0, listed.stderr
    assert "pelican" in listed.stdout
    shown = read_only(["history", "show", "1"], cli_env, data)
    assert shown.returncode == 0, shown.stderr
    assert "remember the word pelican" in shown.stdout
    found = read_only(["history", "search", "pelican"], cli_env, data)
    assert found.returncode == 0, found.stderr
    assert "pelican" in found.stdout
    exported = read_only(["history", "export", "1"], cli_env, data)
    assert exported.returncode == 0, exported.stderr
    assert "pelican" in exported.stdout
    assert not [r for r in (listed, shown, found, exported) if r.stderr.strip()]


def test_ask_continue_sends_the_saved_context_and_warns_once_it_cannot_save(
    saved: Path, data: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    result = read_only(["ask", "-c", "which word?"], cli_env, data)
    assert result.returncode == 0, result.stderr
    sent = server.chat_bodies()[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "remember the word pelican",
        "which word?",
    ]
    assert result.stderr.count("read-only") == 1, result.stderr
    assert "history is not being saved" in result.stderr
    assert "Read-only file system" in result.stderr


def test_a_plain_ask_on_a_read_only_history_warns_once_and_answers(
    saved: Path, data: Path, cli_env: dict[str, str]
) -> None:
    result = read_only(["ask", "hello"], cli_env, data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.count("history is not being saved") == 1, result.stderr


def test_history_rm_on_a_read_only_database_fails_in_one_line(
    saved: Path, data: Path, cli_env: dict[str, str]
) -> None:
    result = read_only(["history", "rm", "1"], cli_env, data)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "cannot delete conversation 1" in lines[0]
    assert "read-only (Read-only file system)" in lines[0]
    listed = run_cli(["history", "list"], cli_env)  # still there, the mount gone
    assert b"pelican" in listed.stdout
