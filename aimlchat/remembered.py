"""What servers taught us, remembered per base URL and model for the next process.

One small JSON file per fact in the cache folder, `{"BASE_URL": {"MODEL": VALUE}}`:
the context window a server stated (chat.window_memory), the API shape a model answers
on (api.route). Keyed by base URL, so a proxy in front of the same models (LiteLLM)
learns for itself. Written whole and atomically (0600 in a 0700 folder). It is a cache:
a file that cannot be read or written, or holds something else, is the same as no file,
never an error.
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


def recall(path: Path, base_url: str, model: str) -> Any:
    """The value remembered for `model` on the server at `base_url`, or None; the caller
    checks its type (the file is anyone's to edit)."""
    models = _load(path).get(base_url)
    return models.get(model) if isinstance(models, dict) else None


def remember(path: Path, base_url: str, model: str, value: Any) -> bool:
    """Keep `value` for `model` on `base_url`; whether it is kept (best effort: a cache)."""
    from aimlchat.fsutil import atomic_write

    data = _load(path)
    models = data.get(base_url)
    if not isinstance(models, dict):
        models = data[base_url] = {}
    if models.get(model) == value:
        return True
    models[model] = value
    with contextlib.suppress(OSError):  # a read-only cache folder: learn again next time
        atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
        return True
    return False
