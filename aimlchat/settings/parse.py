"""Values as people type them: `/set NAME VALUE` in the REPL and `-o KEY=VALUE`.

Each is read into the type its row of `params.TABLE` says and checked by `params.check`,
so `/set stop ["a","b"]` and `-o stop='["a","b"]'` mean the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aimlchat.errors import UsageError
from aimlchat.settings.params import BY_NAME, body_field, canonical, check, check_together, find


def _json_or_text(raw: str, label: str) -> Any:
    """JSON when it parses, else the plain string; broken JSON brackets are a mistake."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        if raw.lstrip()[:1] in ("{", "["):
            raise UsageError(f"{label}: invalid JSON: {exc}") from None
        return raw


def _number(raw: str, kind: str) -> Any:
    """`raw` as an int for an integer parameter (never through a float), else a float."""
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        return raw  # check() names what was expected


def parse_text(name: str, text: str, *, source: str | None = None) -> Any:
    """A value typed by a person (`/set temperature 0.2`, `/set stop ["a","b"]`), checked."""
    param = find(name)
    label = source or param.flag
    raw = text.strip()
    value: Any = raw
    if param.kind == "bool":
        value = {"true": True, "on": True, "yes": True, "1": True}.get(raw.lower(), raw)
        value = {"false": False, "off": False, "no": False, "0": False}.get(raw.lower(), value)
    elif param.kind in ("int", "float"):
        value = _number(raw, param.kind)
    elif param.kind == "str_list":
        value = _json_or_text(raw, label)
    return check(param.name, value, source=label)


def parse_option(item: str) -> tuple[str, Any]:
    """`-o KEY=VALUE`: VALUE is JSON when it parses as JSON, else a plain string.

    A known parameter is checked as its flag would be; any other key is sent as given.
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"-o expects KEY=VALUE (got {item!r})")
    return body_field(key, _json_or_text(raw, f"-o {key}"), source=f"-o {key}")


def apply_set(values: Mapping[str, Any], name: str, text: str) -> tuple[dict[str, Any], str]:
    """`/set NAME VALUE` (no VALUE: unset) on a copy of `values`: (the new values, a notice).

    VALUE is read as its flag would be (`/set stop ["a","b"]` is JSON, as with `-o`), and
    the result must hold together (`top_logprobs` needs `logprobs` on).
    """
    updated = dict(values)
    key = canonical(name)
    if not text.strip() and key not in BY_NAME and name in updated:  # a field from -o/[body]
        del updated[name]
        return updated, f"{name} unset"
    key = find(name, settable_only=True).name
    if text.strip():
        updated[key] = parse_text(key, text, source=f"/set {key}")
        notice = f"{key} = {_shown(updated[key])}"
    else:
        updated.pop(key, None)
        notice = f"{key} unset"
    check_together(updated, lambda n: n)
    return updated, notice


def _shown(value: Any) -> str:
    """A value as /set reads it back: JSON for lists, the plain number or word otherwise."""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).lower() if isinstance(value, bool) else str(value)
