"""`${VAR}` in configured values (HTTP headers), filled from the environment, so a secret
such as `"Bearer ${AIML_API_KEY}"` stays out of config.toml."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aimlchat.errors import ConfigError, redact
from aimlchat.settings.secrets import is_secret_name

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Headers that carry credentials whatever their value's variable is called.
_SECRET_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie"))


def expand(value: str, environ: Mapping[str, str], *, where: str, secret: bool = False) -> str:
    """`value` with each `${NAME}` replaced; an unset or empty variable is a ConfigError
    naming `where` (e.g. `[mcp.aiml] headers.Authorization`), never an empty secret sent.

    A value filled in is starred wherever it is echoed (an error, a tool's output, the
    --debug trace) when it is a secret: `secret` (it goes where credentials go: an
    Authorization header, `env.GITHUB_TOKEN`), a variable named as one (`API_KEY`,
    `DB_PASSWORD`, as `config show` masks), or a URL's password. Starring every value
    would mangle what the model reads: `${READ_ONLY}` = "true" in `{"ok": true}`,
    `${PROJECT}` in every path."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name)
        if not found:
            raise ConfigError(f"{where} uses ${{{name}}}, which is not set in the environment")
        if secret or is_secret_name(name):
            redact.add(found)
        else:
            redact.add(_url_password(found))  # postgres://app:PASSWORD@db/app
        return found

    return _VAR.sub(fill, value)


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    from urllib.parse import urlsplit

    try:
        return urlsplit(value).password
    except ValueError:
        return None


def _secret_header(name: str) -> bool:
    return name.lower() in _SECRET_HEADERS or is_secret_name(name)


def expand_headers(
    headers: Mapping[str, str], environ: Mapping[str, str], *, server: str
) -> dict[str, str]:
    return {
        key: expand(
            value, environ, where=f"[mcp.{server}] headers.{key}", secret=_secret_header(key)
        )
        for key, value in headers.items()
    }
