"""Images for the user message: local files become data: URLs, URLs pass as they are."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aimlchat.errors import UsageError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
DETAILS = ("low", "high", "auto")


def sniff_mime(data: bytes) -> str | None:
    """The image type from its first bytes: a file's name can lie, its header cannot."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_part(
    spec: str, *, detail: str | None = None, read_stdin: Callable[[], bytes] | None = None
) -> dict[str, Any]:
    if detail is not None and detail not in DETAILS:
        raise UsageError(f"--image-detail must be one of {', '.join(DETAILS)} (got {detail!r})")
    lowered = spec.lower()
    if lowered.startswith(("http://", "https://", "data:image/")):
        url = spec
    else:
        if spec == "-":
            if read_stdin is None:
                raise UsageError("-a - needs the image on stdin")
            data, label = read_stdin(), "stdin"
        else:
            data, label = _read_file(Path(spec).expanduser()), spec
        mime = sniff_mime(data)
        if mime is None:
            raise UsageError(f"{label} is not a JPEG, PNG, GIF or WEBP image")
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    image: dict[str, Any] = {"url": url}
    if detail:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
        if size > MAX_IMAGE_BYTES:
            raise UsageError(
                f"{path} is {size / 1e6:.1f} MB; images are limited to "
                f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
