"""Images for the user message: local files become data: URLs, URLs pass as they are."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from aimlchat.errors import UsageError
from aimlchat.fsutil import read_capped
from aimlchat.messages import Image

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
) -> Image:
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
            path = Path(spec).expanduser()
            data = read_capped(path, label=str(path), limit=MAX_IMAGE_BYTES, kind="images")
            label = spec
        mime = sniff_mime(data)
        if mime is None:
            raise UsageError(f"{label} is not a JPEG, PNG, GIF or WEBP image")
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return Image(url, detail or None)
