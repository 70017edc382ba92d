"""Context windows servers stated in their errors ("maximum context length is 2048 tokens"),
remembered per base URL and model so that the next process trims before it sends.

One small JSON file in the cache folder, `{"BASE_URL": {"MODEL": LENGTH}}`, written whole
and atomically (0600 in a 0700 folder). It is a cache: a file that cannot be read or
written is the same as no file, never an error.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(path: Path, base_url: str, model: str) -> int | None:
    """The window remembered for `model` on the server at `base_url`, if any."""
    models = _load(path).get(base_url)
    length = models.get(model) if isinstance(models, dict) else None
    return length if type(length) is int and length > 0 else None


def remember(path: Path, base_url: str, model: str, length: int) -> None:
    """Keep `length` as `model`'s window on `base_url` (best effort: a cache)."""
    from aimlchat.fsutil import atomic_write

    data = _load(path)
    models = data.get(base_url)
    if not isinstance(models, dict):
        models = data[base_url] = {}
    if models.get(model) == length:
        return
    models[model] = length
    with contextlib.suppress(OSError):  # a read-only cache folder: trim again next time
        atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
