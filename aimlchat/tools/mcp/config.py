"""`[mcp.NAME]` tables of config.toml: one MCP server each, checked key by key.

A server is a command (`command = ["prog", "arg"]`, with optional `env` and `cwd`) or a
Streamable HTTP endpoint (`url`, with optional `headers`). `${VAR}` in a header or env
value is kept as written here and filled in only when the server starts (Server.start):
`config show` then never holds a secret, and an unset variable matters only to a run
that uses the server. Nothing here imports the MCP client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aimlchat.errors import ConfigError
from aimlchat.record import record

# Per tools/call. The TypeScript SDK's default request timeout, which servers are built
# to answer within; a command tool's 30 s is short for a server that searches the web,
# and the session's own 120 s ceiling is long to hold a turn for a stuck server.
DEFAULT_TIMEOUT = 60.0
# No dots: people write NAME.TOOL (`-T aiml.search`), so a dot in NAME would be ambiguous.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token
KEYS = ("command", "env", "cwd", "url", "headers", "timeout", "allow", "deny", "trusted")
_COMMAND_ONLY = ("env", "cwd")
# `-T all` and `/tools none` mean every tool and no tool: no server may be named so.
RESERVED = ("all", "none")
_URL_ONLY = ("headers",)


@record(frozen=True)
class ServerSpec:
    """One `[mcp.NAME]`: `command` or `url`, never both. `env` and `headers` values may
    hold `${VAR}`, filled at start."""

    name: str
    command: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    trusted: bool = False

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"


def shown_url(url: str) -> str:
    """scheme://host[:port]/path: what may be printed of a server's URL (a query string or
    a fragment may carry a key; config refuses credentials in it, and they are dropped)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def unkeyed(text: str, url: str | None) -> str:
    """`text` without `url`'s query string or fragment, wherever it quotes them (an HTTP
    library's error quotes the path with its query)."""
    if not url:
        return text
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    for secret in (parts.query, parts.fragment):
        if secret:
            text = text.replace(secret, "…")
    return text


def _where(name: str, key: str | None = None) -> str:
    return f"[mcp.{name}]" + (f" {key}" if key else "")


def parse_server(name: str, table: Any) -> ServerSpec:
    """One `[mcp.NAME]` table, or a ConfigError saying in one line what is wrong."""
    if not _NAME.match(name):
        raise ConfigError(
            f"{_where(name)}: a server name may use only letters, digits, '_' and '-' (64 at most)",
            hint="no dots: tools are named NAME.TOOL",
        )
    if name in RESERVED:
        raise ConfigError(
            f"{_where(name)}: {name!r} cannot name a server: -T {name} and /tools {name} "
            "mean something else",
            hint="give the server another name",
        )
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(name)} must be a table")
    _check_keys(name, table)
    has_command, has_url = "command" in table, "url" in table
    if has_command == has_url:
        said = "both command and url" if has_command else "neither command nor url"
        raise ConfigError(
            f"{_where(name)} has {said}; it needs exactly one",
            hint='e.g. command = ["mcp-server-files", "."] or url = "https://mcp.aimlapi.com/mcp"',
        )
    for key in _URL_ONLY if has_command else _COMMAND_ONLY:
        if key in table:
            other = "an HTTP (url)" if has_command else "a command"
            raise ConfigError(f"{_where(name, key)} applies only to {other} server")
    allow = _names(name, "allow", table.get("allow"))
    deny = _names(name, "deny", table.get("deny"))
    both = [tool for tool in allow if tool in deny]
    if both:
        raise ConfigError(f"{_where(name)} has {both[0]!r} in both allow and deny")
    return ServerSpec(
        name=name,
        command=_command(name, table["command"]) if has_command else None,
        env=_strings(name, "env", table.get("env"), _ENV_NAME),
        cwd=_cwd(name, table.get("cwd")),
        url=_url(name, table["url"]) if has_url else None,
        headers=_strings(name, "headers", table.get("headers"), _HEADER_NAME),
        timeout=_timeout(name, table.get("timeout")),
        allow=allow,
        deny=deny,
        trusted=_flag(name, "trusted", table.get("trusted")),
    )


def parse_servers(servers: Any) -> dict[str, ServerSpec]:
    """The `mcp` table of config.toml (None when there is none); the first error raises."""
    if servers is None:
        return {}
    if not isinstance(servers, dict):
        raise ConfigError("'mcp' must be a table of [mcp.NAME] tables")
    specs = {str(name): parse_server(str(name), table) for name, table in servers.items()}
    for error in foreign_entries(specs):
        raise ConfigError(error)
    return specs


def foreign_entries(specs: Mapping[str, ServerSpec]) -> list[str]:
    """One line per allow or deny entry that names another server's tool (`other.TOOL`
    under [mcp.srv]): it would silently match nothing, and a deny that matches nothing
    is a tool offered that the user meant to keep away."""
    errors = []
    for spec in specs.values():
        for key in ("allow", "deny"):
            for entry in getattr(spec, key):
                other = entry.partition(".")[0]
                if "." in entry and other in specs and other != spec.name:
                    errors.append(
                        f'{_where(spec.name, key)} names "{entry}", a tool of another '
                        f"server: put it in [mcp.{other}] {key}"
                    )
    return errors


def _check_keys(name: str, table: Mapping[str, Any]) -> None:
    from aimlchat.tools.spec import check_keys

    check_keys(_where(name), table, KEYS)


def _command(name: str, value: Any) -> tuple[str, ...]:
    from aimlchat.tools.spec import parse_argv

    where = _where(name, "command")
    return parse_argv(where, value, example=("mcp-server-files", "."), runs="servers")


def _url(name: str, value: Any) -> str:
    where = _where(name, "url")
    if not isinstance(value, str):
        raise ConfigError(
            f"{where} must be a string", hint='e.g. url = "https://mcp.aimlapi.com/mcp"'
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port out of range, as requests would later
    except ValueError:
        parts = urlsplit("")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise ConfigError(
            f"{where} must be an http:// or https:// URL, not {value!r}",
            hint='e.g. url = "https://mcp.aimlapi.com/mcp"',
        )
    if parts.username or parts.password:
        raise ConfigError(
            f"{where} must not carry credentials",
            hint='use headers = { Authorization = "Bearer ${MY_KEY}" }',
        )
    return value


def _strings(name: str, key: str, value: Any, names: re.Pattern[str]) -> dict[str, str]:
    if value is None:
        return {}
    where = _where(name, key)
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} must be a table of strings",
            hint=f'e.g. {key} = {{ {"Authorization" if key == "headers" else "HOME"} = "…" }}',
        )
    for item, text in value.items():
        if not names.match(item):
            raise ConfigError(f"{where} has an invalid name {item!r}")
        if not isinstance(text, str) or "\0" in text:
            raise ConfigError(f"{where}.{item} must be a string")
        if key == "headers" and any(c in text for c in "\r\n"):
            raise ConfigError(f"{where}.{item} must be one line")
    return dict(value)


def _cwd(name: str, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise ConfigError(f"{_where(name, 'cwd')} must be a folder's path (a string)")
    return Path(value).expanduser()


def _names(name: str, key: str, value: Any) -> tuple[str, ...]:
    """Tool names as the server lists them: `SERVER.TOOL` of this server is its `TOOL`
    (people write what `-T` and `aimlchat tools` show). Another prefix is kept as
    written, since a tool's own name may hold a dot; foreign_entries refuses one that
    names another configured server."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f"{_where(name, key)} must be a list of tool names", hint=f'e.g. {key} = ["search"]'
        )
    own = f"{name}."
    tools = [v[len(own) :] if v.startswith(own) and len(v) > len(own) else v for v in value]
    return tuple(dict.fromkeys(tools))


def _timeout(name: str, value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise ConfigError(f"{_where(name, 'timeout')} must be a positive number of seconds")
    return float(value)


def _flag(name: str, key: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"{_where(name, key)} must be true or false")
    return value
