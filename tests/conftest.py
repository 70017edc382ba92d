"""Fixtures: a loopback API server, private XDG dirs, and the CLI in-process (`invoke`) or
as a real process (`run_cli`, `spawn`: for what needs a real pipe, terminal or signal)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loopback import LoopbackServer

TEST_KEY = "sk-test-SECRET-0123456789"


@pytest.fixture(autouse=True)
def signal_handlers_restored() -> Iterator[None]:
    """A run in-process must leave no handler behind for the next test to inherit."""
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.getsignal(signum) for signum in watched}
    yield
    after = {signum: signal.getsignal(signum) for signum in watched}
    assert after == before, "a signal handler was left installed"


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

    options: dict[str, Any] = {
        "dimensions": (30, 100),
        "timeout": 15,
        "encoding": "utf-8",
        "codec_errors": "replace",
        **kw,
    }
    return pexpect.spawn(sys.executable, ["-m", "aimlchat", *args], env=env, **options)


class Invocation:
    """What `main` returned and wrote, for a CLI run in-process."""

    def __init__(self, status: int, stdout: bytes, stderr: str) -> None:
        self.returncode = status
        self.stdout = stdout
        self.stderr = stderr


class _FakeStdout(io.TextIOWrapper):
    def __init__(self, tty: bool) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def value(self) -> bytes:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue()


def invoke(
    args: list[str],
    env: dict[str, str],
    input: bytes | str | None = None,
    *,
    stdout_tty: bool = False,
    stdin_tty: bool = False,
    stderr_tty: bool = False,
) -> Invocation:
    """`aimlchat ARGS` in this process through `main(argv, env)`, with fake streams.

    For what needs no real terminal, pipe or signal: ~50x faster than a subprocess.
    """
    from aimlchat.cli import main
    from aimlchat.errors import redact
    from aimlchat.terminal.environment import Environment

    # A fresh process knows no secrets yet: a key learnt by an earlier run must not scrub
    # this run's output, or a leak would go unseen.
    redact._secrets.clear()
    data = input.encode() if isinstance(input, str) else (input or b"")
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    stdout = _FakeStdout(stdout_tty)
    stderr = io.StringIO()
    environment = Environment(
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        environ=env,
        stdin_tty=stdin_tty,
        stdout_tty=stdout_tty,
        stderr_tty=stderr_tty,
    )
    status = main(args, environment)
    return Invocation(status, stdout.value(), stderr.getvalue())


# -- MCP servers built with the official SDK (tests/mcp_servers) --------------------------


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    """A folder the SDK test server leaves marks in (MCP_TEST_MARKS): `started`,
    `cancelled`, its pid, its requests."""
    folder = tmp_path / "marks"
    folder.mkdir()
    return folder


@pytest.fixture
def http_server(marks: Path) -> Iterator[Any]:
    """Starts SDK Streamable HTTP servers (`start(**env)`); every one is stopped at the end."""
    from tests.test_mcp_client import HttpServer

    started: list[HttpServer] = []

    def start(**env: str) -> HttpServer:
        started.append(HttpServer(marks, env))
        return started[-1]

    yield start
    for srv in started:
        srv.stop()
