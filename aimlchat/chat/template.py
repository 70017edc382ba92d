"""`{{name}}` template variables in roles and prompts, filled from `-v name=value`."""

from __future__ import annotations

import re

from aimlchat.errors import UsageError

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


def parse_vars(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise UsageError(f"-v expects NAME=VALUE (got {item!r})")
        out[name] = value
    return out


def names(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _VAR.finditer(text)))


def fill(text: str, values: dict[str, str], *, where: str = "the prompt") -> str:
    """Replace every `{{name}}`; a name with no value is a usage error naming it."""
    missing = [n for n in names(text) if n not in values]
    if missing:
        flags = " ".join(f"-v {n}=…" for n in missing)
        raise UsageError(f"{where} needs {', '.join(missing)}", hint=f"give a value with {flags}")
    return _VAR.sub(lambda m: values[m.group(1)], text)
