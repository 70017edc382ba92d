"""`aimlchat roles list | show NAME | edit [NAME]`: the built-in roles and config.toml's.

Roles live in config.toml (one file to back up and to read); `roles edit NAME` adds a
stub for a role that is not there yet and opens the file in $EDITOR, checked afterwards.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aimlchat.chat.roles import BUILTIN_NAMES, RoleEntry, all_roles
from aimlchat.chat.template import names
from aimlchat.commands.config import TEMPLATE, edit_config
from aimlchat.commands.runtime import App
from aimlchat.fsutil import atomic_write
from aimlchat.settings.config import Paths, load_file
from aimlchat.settings.resolve import role_named
from aimlchat.terminal.columns import columns
from aimlchat.terminal.environment import Environment

SUMMARY_WIDTH = 60


def list_roles(app: App, *, as_json: bool = False) -> None:
    """One line a role: aligned on a terminal, tab-separated for a pipe."""
    entries = all_roles(app.cfg, app.builtin_roles())
    if as_json:
        app.out.data(json.dumps([_doc(e) for e in entries], ensure_ascii=False, indent=2) + "\n")
        return
    rows = [
        [e.name, e.source, e.role.model or "-", _first_line(e.role.system, app.out.is_terminal)]
        for e in entries
    ]
    app.out.data(columns(["NAME", "SOURCE", "MODEL", "SYSTEM"], rows, aligned=app.out.is_terminal))


def show_role(app: App, name: str, *, as_json: bool = False) -> None:
    """Everything a role sets, its system prompt as written ({{vars}} unfilled)."""
    entry = _entry(app, name)
    if as_json:
        app.out.data(json.dumps(_doc(entry), ensure_ascii=False, indent=2) + "\n")
        return
    role = entry.role
    lines = [f"{entry.name} ({entry.source})", f"model:  {role.model or '(the default)'}"]
    if role.params:
        lines.append("params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in role.params.items()))
    if role.tools:
        lines.append("tools:  " + ", ".join(role.tools))
    wanted = names(role.system or "")
    if wanted:
        lines.append("needs:  " + " ".join(f"-v {n}=…" for n in wanted))
    lines.append("system:" if role.system else "system: (none)")
    text = "\n".join(lines) + "\n"
    if role.system:
        text += role.system.rstrip("\n") + "\n"
    app.out.data(text)


def edit_roles(paths: Paths, env: Environment, name: str | None) -> None:
    """Open config.toml; a NAME it does not define yet gets a stub at its end first."""
    if name is not None:
        _add_stub(paths, name)
    edit_config(paths, env)


def _entry(app: App, name: str) -> RoleEntry:
    for entry in all_roles(app.cfg, app.builtin_roles()):
        if entry.name == name:
            return entry
    role_named(name, app.cfg, app.builtin_roles())  # raises, naming the roles there are
    raise AssertionError(name)  # pragma: no cover


def _doc(entry: RoleEntry) -> dict[str, Any]:
    role = entry.role
    return {
        "name": entry.name,
        "source": entry.source,
        "system": role.system,
        "model": role.model,
        "params": role.params,
        "tools": role.tools,
        "variables": names(role.system or ""),
    }


def _first_line(text: str | None, shorten: bool) -> str:
    line = (text or "").strip().split("\n", 1)[0]
    if shorten and len(line) > SUMMARY_WIDTH:
        return line[: SUMMARY_WIDTH - 1] + "…"
    return line


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def stub(name: str) -> str:
    """The lines `roles edit NAME` appends for a role config.toml does not define."""
    head = f"\n[roles.{_toml_key(name)}]\n"
    if name in BUILTIN_NAMES:
        return head + (
            "# Changes to the built-in role; its system prompt is kept unless you set one.\n"
            '# model = "meta-llama/llama-4-scout"\n'
            "# params = { temperature = 0.2 }\n"
        )
    return head + (
        'system = "You are a helpful assistant."  # {{name}} is filled with -v name=…\n'
        '# model = "meta-llama/llama-4-scout"\n'
        "# params = { temperature = 0.7 }\n"
        '# tools = ["read_file"]\n'
    )


def _add_stub(paths: Paths, name: str) -> None:
    path = paths.config_file
    if name in load_file(path).roles:
        return
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = TEMPLATE
    except (OSError, UnicodeDecodeError):
        return  # not a file to rewrite: the editor, then the check, say what is wrong
    atomic_write(path, (old.rstrip("\n") + "\n" + stub(name)).encode("utf-8"))
