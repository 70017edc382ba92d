"""Which tools exist and which are offered: `[tools.NAME]` tables, the built-ins, `-T`.

A declared tool is a command on the user's machine. Its `command` is an argv list and
never a string, because a string would need a shell to split it, and a shell is where
the model's text could turn into code. The two built-ins read the current directory only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from aimlchat.errors import ConfigError
from aimlchat.record import record
from aimlchat.words import did_you_mean

DEFAULT_TIMEOUT = 30.0
ALL = "all"
# The API's own rule for function names; a name it refuses would fail every request.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEYS = ("description", "command", "parameters", "timeout", "confirm")
# A built-in needs no table; one may exist only to turn its prompt off.
_BUILTIN_KEYS = ("confirm",)

Schema = dict[str, Any]


def _empty_schema() -> Schema:
    return {"type": "object", "properties": {}}


@record(frozen=True)
class ToolSpec:
    """One tool the model may be offered. `command` is None for a built-in."""

    name: str
    description: str = ""
    parameters: Schema = field(default_factory=_empty_schema)
    command: tuple[str, ...] | None = None
    timeout: float = DEFAULT_TIMEOUT
    confirm: bool = True

    @property
    def builtin(self) -> bool:
        return self.command is None


class SpecTool:
    """What a Tool (tools.protocol) reads from its ToolSpec: the two local providers,
    commands (tools.commands) and built-ins (tools.builtins), add what runs it."""

    def __init__(self, spec: ToolSpec) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.name  # one name for the model and for people

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def parameters(self) -> Schema:
        return self.spec.parameters

    @property
    def asks(self) -> bool:
        return self.spec.confirm

    def allow_hint(self) -> str:
        return f"pass --yes or set confirm = false in [tools.{self.spec.name}]"

    def close(self) -> None:
        pass  # a local tool holds nothing between calls


_PATH_ARG = {"type": "string", "description": "A path relative to the current directory."}

READ_FILE = ToolSpec(
    name="read_file",
    description=(
        "Read a text file under the current directory. Returns its contents "
        "(a long file is cut to what the context window has room for, with a note)."
    ),
    parameters={
        "type": "object",
        "properties": {"path": _PATH_ARG},
        "required": ["path"],
    },
)
LIST_DIR = ToolSpec(
    name="list_dir",
    description=(
        "List the entries of a directory under the current directory, one per line; "
        "directories end with '/'."
    ),
    parameters={
        "type": "object",
        "properties": {"path": {**_PATH_ARG, "default": "."}},
    },
)
BUILTINS: dict[str, ToolSpec] = {spec.name: spec for spec in (READ_FILE, LIST_DIR)}


def _where(name: str, key: str | None = None) -> str:
    return f"[tools.{name}]" + (f" {key}" if key else "")


def _command(name: str, value: Any) -> tuple[str, ...]:
    return parse_argv(_where(name, "command"), value, example=("weather-cli", "--json"))


def parse_argv(
    where: str, value: Any, *, example: Sequence[str], runs: str = "tools"
) -> tuple[str, ...]:
    """A `command` table value: an argv list of strings, never a string (which would need
    a shell to split it: where the model's text could turn into code). `where` names it
    in config.toml; `example` is a command shown when one is needed."""
    if isinstance(value, str):
        raise ConfigError(
            f"{where} must be a list of arguments, not a string",
            hint=f"e.g. command = {_listed(value.split() or example)}; "
            f"aimlchat never runs {runs} through a shell",
        )
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{where} must be a non-empty list of arguments",
            hint=f"e.g. command = {_listed(example)}",
        )
    for arg in value:
        if not isinstance(arg, str) or "\0" in arg:
            raise ConfigError(f"{where} must hold strings only, got {arg!r}")
    if not value[0]:
        raise ConfigError(f"{where} starts with an empty program name")
    return tuple(value)


def _listed(words: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{word}"' for word in words) + "]"


def _parameters(name: str, value: Any) -> Schema:
    if value is None:
        return _empty_schema()
    where = _where(name, "parameters")
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table (a JSON Schema object)")
    schema = dict(value)
    kind = schema.setdefault("type", "object")
    if kind != "object":
        raise ConfigError(f'{where} must have type = "object", not {kind!r}')
    properties = schema.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise ConfigError(f"{where}.properties must be a table of argument schemas")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ConfigError(f"{where}.required must be a list of argument names")
    missing = [r for r in required if r not in properties]
    if missing:
        raise ConfigError(f"{where}.required names {missing[0]!r}, which is not in properties")
    return schema


def _timeout(name: str, value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{_where(name, 'timeout')} must be a positive number of seconds")
    return float(value)


def _flag(name: str, key: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"{_where(name, key)} must be true or false")
    return value


def _check_keys(name: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    check_keys(_where(name), table, allowed)


def check_keys(where: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """A ConfigError for the first key of `table` (a config table named `where`, such as
    `[tools.weather]` or `[mcp.aiml]`) that is not one of `allowed`."""
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed, n=1) or "known: " + ", ".join(allowed)
            raise ConfigError(f"{where} has an unknown key {key!r}", hint=hint)


def _builtin(name: str, table: Mapping[str, Any]) -> ToolSpec:
    _check_keys(name, table, _BUILTIN_KEYS)
    base = BUILTINS[name]
    confirm = _flag(name, "confirm", table.get("confirm"), base.confirm)
    return ToolSpec(base.name, base.description, base.parameters, None, base.timeout, confirm)


def parse_tool(name: str, table: Any) -> ToolSpec:
    if not _NAME.match(name):
        raise ConfigError(
            f"{_where(name)}: a tool name may use only letters, digits, '_' and '-' (64 at most)"
        )
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(name)} must be a table")
    if name in BUILTINS:
        return _builtin(name, table)
    _check_keys(name, table, _KEYS)
    if "command" not in table:
        raise ConfigError(
            f"{_where(name)} has no command", hint='e.g. command = ["weather-cli", "--json"]'
        )
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{_where(name, 'description')} must be a string")
    return ToolSpec(
        name=name,
        description=description,
        parameters=_parameters(name, table.get("parameters")),
        command=_command(name, table["command"]),
        timeout=_timeout(name, table.get("timeout")),
        confirm=_flag(name, "confirm", table.get("confirm"), True),
    )


def parse_tools(tools: Any) -> dict[str, ToolSpec]:
    """Every tool there is: the built-ins plus the `tools` table of config.toml.

    `tools` is the value of the config's `tools` key (None when there is none).
    """
    if tools is None:
        tools = {}
    if not isinstance(tools, dict):
        raise ConfigError("'tools' must be a table of [tools.NAME] tables")
    found = dict(BUILTINS)
    for name, table in tools.items():
        found[name] = parse_tool(str(name), table)
    return found
