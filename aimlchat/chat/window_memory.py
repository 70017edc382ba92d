"""Context windows servers stated in their errors ("maximum context length is 2048 tokens"),
remembered per base URL and model so that the next process trims before it sends.

The file (`context-windows.json` in the cache folder) is an `aimlchat.remembered` store:
`{"BASE_URL": {"MODEL": LENGTH}}`, and a cache, never an error.
"""

from __future__ import annotations

from pathlib import Path

from aimlchat import remembered


def recall(path: Path, base_url: str, model: str) -> int | None:
    """The window remembered for `model` on the server at `base_url`, if any."""
    length = remembered.recall(path, base_url, model)
    return length if type(length) is int and length > 0 else None


def remember(path: Path, base_url: str, model: str, length: int) -> None:
    """Keep `length` as `model`'s window on `base_url` (best effort: a cache)."""
    remembered.remember(path, base_url, model, length)
