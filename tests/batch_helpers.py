"""Helpers for the `aimlchat batch` tests: IN files and reading OUT back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
