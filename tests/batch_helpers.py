"""Helpers for the `aimlchat batch` tests: IN files, reading OUT back, a server that
drops requests and an address where none listens."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.loopback import Reply


def write_prompts(
    path: Path, n: int, *, fail: frozenset[int] = frozenset(), jsonl: bool = True
) -> Path:
    lines = []
    for i in range(1, n + 1):
        text = f"prompt {i}" + (" FAIL" if i in fail else "")
        lines.append(json.dumps({"id": f"q{i}", "prompt": text}) if jsonl else text)
    path.write_text("\n".join(lines) + "\n")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def ids(path: Path) -> list[Any]:
    return [r["id"] for r in results(path)]


def dropping(
    answer: Callable[[dict[str, Any]], Reply], drop: Callable[[int, str], bool]
) -> Callable[[dict[str, Any]], Reply]:
    """A server script that closes the connection without an HTTP answer for the chat
    requests `drop(number, prompt)` picks (numbered from 1 as they arrive), as a host
    that went down mid-request does; the others get `answer`."""
    arrived = itertools.count(1)

    def script(request: dict[str, Any]) -> Reply:
        number = next(arrived)
        prompt = str((request.get("json") or {}).get("messages", [{}])[-1].get("content", ""))
        if drop(number, prompt):
            raise ConnectionAbortedError(f"request {number} dropped on purpose")
        return answer(request)

    return script


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
