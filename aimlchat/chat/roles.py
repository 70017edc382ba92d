"""The roles aimlchat ships, every role a command can use, and filling their `{{vars}}`.

A role in config.toml with a built-in's name changes what it sets, so `cmd` can be tuned
(its system prompt is kept unless config.toml sets one). Built-in system prompts that
depend on the machine (`cmd` names the OS, shell and directory) are written only when
asked for, so a command that uses no role never computes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from aimlchat.chat.shellcmd import CMD_ROLE, system_prompt
from aimlchat.chat.template import fill
from aimlchat.record import record
from aimlchat.settings.config import FileConfig, Role
from aimlchat.settings.resolve import role_named

CODE_ROLE = "code"
CODE_PROMPT = (
    "Reply with code only: a single fenced code block tagged with its language, and no "
    "prose before or after it. Put any necessary explanation in brief comments inside the "
    "code. If the request is ambiguous, choose the most common interpretation."
)
BUILTIN_NAMES = (CMD_ROLE, CODE_ROLE)
BUILTIN = "built-in"
CONFIG = "config.toml"


def cwd_or_home(environ: Mapping[str, str]) -> Path:
    """The current directory; a deleted one (getcwd fails) is no reason to refuse a role."""
    try:
        return Path.cwd()
    except OSError:
        return Path(environ.get("HOME") or os.sep)


def builtin_roles(environ: Mapping[str, str], cwd: Path) -> dict[str, Role]:
    return {
        CMD_ROLE: Role(system=system_prompt(environ, cwd)),
        CODE_ROLE: Role(system=CODE_PROMPT),
    }


@record(frozen=True)
class RoleEntry:
    name: str
    role: Role
    source: str  # "built-in", "config.toml", or "config.toml over the built-in"


def all_roles(cfg: FileConfig, builtins: Mapping[str, Role]) -> list[RoleEntry]:
    """Every usable role by name, as a command would use it (built-ins changed by config)."""
    entries = []
    for name in sorted({*builtins, *cfg.roles}):
        if name not in cfg.roles:
            source = BUILTIN
        elif name in builtins:
            source = f"{CONFIG} over the {BUILTIN}"
        else:
            source = CONFIG
        entries.append(RoleEntry(name, role_named(name, cfg, builtins), source))
    return entries


def filled_system(system: str | None, values: Mapping[str, str], *, role: str | None) -> str | None:
    """The system prompt with its `{{vars}}` filled.

    A role's prompt is a template by design: every variable must be given. A `--system`
    text is filled only when `-v` is given, so a prompt that merely mentions `{{x}}`
    (Handlebars, Jinja) is sent as written.
    """
    if system is None:
        return None
    if role is not None:
        return fill(system, dict(values), where=f"role {role}")
    return fill(system, dict(values), where="--system") if values else system
