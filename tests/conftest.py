"""Fixtures: a loopback API server, private XDG dirs, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loopback import LoopbackServer

TEST_KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for sub in ("config", "data", "cache"):
        (tmp_path / sub).mkdir()
    return tmp_path


@pytest.fixture
def cli_env(home: Path, server: LoopbackServer) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIML", "XDG_", "NO_COLOR", "FORCE_COLOR"))
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "AIML_API_KEY": TEST_KEY,
            "AIMLCHAT_BASE_URL": server.base_url,
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "100",
            "LINES": "30",
            "TERM": "xterm-256color",
            # pexpect is no terminal emulator: it never answers prompt_toolkit's cursor
            # position request, and prompt_toolkit then waits a second after each Enter.
            "PROMPT_TOOLKIT_NO_CPR": "1",
        }
    )
    return env


def run_cli(
    args: list[str], env: dict[str, str], input: bytes | str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run(
        [sys.executable, "-m", "aimlchat", *args],
        env=env,
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def popen_ask(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`aimlchat ask hi` running in the background, its output on pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "hi"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def spawn(args: list[str], env: dict[str, str], **kw: Any) -> Any:
    """The real CLI in a pseudo-terminal."""
    import pexpect

    return pexpect.spawn(
        sys.executable,
        ["-m", "aimlchat", *args],
        env=env,
        dimensions=(30, 100),
        timeout=15,
        encoding="utf-8",
        codec_errors="replace",
        **kw,
    )
