"""`${VAR}` in configured values (HTTP headers), filled from the environment, so a secret
such as `"Bearer ${AIML_API_KEY}"` stays out of config.toml."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aimlchat.errors import ConfigError, redact

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Variables that name places and people, not secrets: their values stay readable in
# messages. Whatever else fills a `${VAR}` is taken for a secret, since keeping secrets
# out of config.toml is what `${VAR}` is for.
_PLAIN = frozenset(
    ("HOME", "USER", "LOGNAME", "PATH", "PWD", "SHELL", "LANG", "TMPDIR", "TMP", "TEMP")
)


def expand(value: str, environ: Mapping[str, str], *, where: str) -> str:
    """`value` with each `${NAME}` replaced; an unset or empty variable is a ConfigError
    naming `where` (e.g. `[mcp.aiml] headers.Authorization`), never an empty secret sent."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name)
        if not found:
            raise ConfigError(f"{where} uses ${{{name}}}, which is not set in the environment")
        if name not in _PLAIN and not name.startswith("XDG_"):
            redact.add(found)  # a server that echoes it (stderr, an error) shows ***
        return found

    return _VAR.sub(fill, value)


def expand_headers(
    headers: Mapping[str, str], environ: Mapping[str, str], *, server: str
) -> dict[str, str]:
    return {
        key: expand(value, environ, where=f"[mcp.{server}] headers.{key}")
        for key, value in headers.items()
    }
