"""The names the model knows MCP tools by: `SERVER__TOOL`, valid for every API.

Every API accepts `^[A-Za-z0-9_-]{1,64}$` as a function name; an MCP tool's name may hold
dots, slashes or spaces and run long. So each other character becomes `_`, a name past
64 characters is cut and ended with a hash of the pair it stands for, and a name that
two tools would share (`a.b` and `a_b`) is made unique the same way. People still see
`server.tool`; only the model sees these. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX = 64
SEPARATOR = "__"
_HASH = 8
_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]")


def _digest(server: str, tool: str, salt: int = 0) -> str:
    text = f"{server}\0{tool}" + (f"\0{salt}" if salt else "")
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH]


def _hashed(plain: str, server: str, tool: str, salt: int = 0) -> str:
    return plain[: MAX - _HASH - 1] + "_" + _digest(server, tool, salt)


def model_name(server: str, tool: str) -> str:
    """`SERVER__TOOL`, each character outside [A-Za-z0-9_-] made `_`; past 64 characters
    cut and ended with `_` and 8 hex digits of the pair's sha256."""
    plain = _OUTSIDE.sub("_", f"{server}{SEPARATOR}{tool}")
    return plain if len(plain) <= MAX else _hashed(plain, server, tool)


def assign(server: str, tool_names: Iterable[str], taken: set[str]) -> dict[str, str]:
    """A unique model name for each of `server`'s tools, in their order: none equal to
    one in `taken` nor to another's. `taken` is updated with them. A clash gets the hash
    ending (salted further while it still clashes)."""
    names: dict[str, str] = {}
    for tool in tool_names:
        if tool in names:
            continue  # a server listing a tool twice: one name for it
        plain = _OUTSIDE.sub("_", f"{server}{SEPARATOR}{tool}")
        name = model_name(server, tool)
        salt = 0
        while name in taken:
            name = _hashed(plain, server, tool, salt)
            salt += 1
        taken.add(name)
        names[tool] = name
    return names
