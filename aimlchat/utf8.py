"""Text that people write (stdin, -f files, config.toml, a --schema file): UTF-8, its BOM
dropped, and where it is not UTF-8 a message that says which byte, and how to convert it.
At the bottom of the imports, since settings reads files too."""

from __future__ import annotations

import re
from typing import Any

from aimlchat.errors import UsageError

_SURROGATE = re.compile("[\ud800-\udfff]")
BOM = "\ufeff"  # what Windows editors put first; the model should not see it


def decode_utf8(label: str, data: bytes, *, convert: str = "") -> str:
    """`data` as text; UsageError naming `label`'s first byte that is not UTF-8.

    `convert` is what the iconv hint converts (a file name; stdin's comes piped).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{label} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint=f"convert it first, e.g. iconv -f latin1 -t utf-8 {convert}".rstrip(),
        ) from None
    return text.removeprefix(BOM)


def without_lone_surrogates(value: Any) -> Any:
    """`value` (parsed JSON) with each lone surrogate (`"\\ud800"`, valid JSON but no
    character) made U+FFFD: a string holding one cannot be encoded as UTF-8, so it would
    fail wherever it goes next (a pipe, a database, the next request)."""
    if isinstance(value, str):
        # json.loads joins a valid pair into one character: any surrogate left is lone.
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value
