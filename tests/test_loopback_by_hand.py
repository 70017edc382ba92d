"""`python tests/loopback.py` run by hand plays errors (`--status 429 --retry-after 1`,
`--status 401`) and serves pages for `-f URL` (`--page PATH=FILE`, the built-in
/page.html): the server as a person starts it, the CLI against it."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import invoke

LOOPBACK = Path(__file__).with_name("loopback.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def by_hand(cli_env: dict[str, str]) -> Iterator[Callable[..., dict[str, str]]]:
    """Start `python tests/loopback.py --port P ARGS`; the CLI's environment pointing at it."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> dict[str, str]:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, str(LOOPBACK), "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the socket listens
        assert "loopback AI/ML API on" in first, proc.stderr.read() if proc.stderr else first
        return {**cli_env, "AIMLCHAT_BASE_URL": f"http://127.0.0.1:{port}/v1"}

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def test_status_429_is_reported_as_rate_limiting(by_hand):
    env = by_hand("--status", "429", "--retry-after", "1")
    r = invoke(["ask", "--retries", "0", "hi"], env)
    assert r.returncode == 5 and r.stdout == b""
    assert "HTTP 429: Too Many Requests" in r.stderr and "rate limited" in r.stderr
    r = invoke(["ask", "--retries", "1", "hi"], env)
    assert r.returncode == 5 and "retrying in 1.0s" in r.stderr  # Retry-After was sent


def test_status_401_fails_chat_and_the_model_list_alike(by_hand):
    env = by_hand("--status", "401")
    assert invoke(["ask", "hi"], env).returncode == 3
    r = invoke(["models"], env)
    assert r.returncode == 3 and "HTTP 401: Unauthorized" in r.stderr


def test_status_takes_a_body_of_its_own(by_hand):
    env = by_hand("--status", "500", "--body", '{"error": {"message": "boom inside"}}')
    r = invoke(["ask", "--retries", "0", "hi"], env)
    assert r.returncode == 1 and "HTTP 500: boom inside" in r.stderr


def test_pages_are_served_for_file_urls(by_hand, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nremember the milk\n")
    env = by_hand("--scenario", "echo", "--delay", "0", "--page", f"/notes.md={notes}")
    origin = env["AIMLCHAT_BASE_URL"].removesuffix("/v1")
    r = invoke(["ask", "-f", f"{origin}/notes.md", "sum up"], env)
    assert r.returncode == 0 and b"remember the milk" in r.stdout  # echoed back
    r = invoke(["ask", "-f", f"{origin}/page.html", "sum up"], env)
    assert r.returncode == 0 and b"A page for -f URL" in r.stdout
    assert b"not text" not in r.stdout  # the page's script is no text


def test_a_bad_option_is_refused_before_serving():
    r = subprocess.run(
        [sys.executable, str(LOOPBACK), "--port", "0", "--retry-after", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 2 and "--retry-after and --body go with --status" in r.stderr
