"""`${VAR}` in configured values (HTTP headers), filled from the environment, so a secret
such as `"Bearer ${AIML_API_KEY}"` stays out of config.toml."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aimlchat.errors import ConfigError, redact

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A value filled in is starred wherever it is echoed (an error, a tool's output, the
# --debug trace) when it is a secret: any value in a header (that is what headers carry
# here), else a variable whose name says so. Starring every value would mangle what the
# model reads: `${READ_ONLY}` = "true" in `{"ok": true}`, `${PROJECT}` in every path.
_SECRET_WORDS = frozenset(
    [
        "KEY",
        "APIKEY",
        "ACCESSKEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PASSPHRASE",
        "AUTH",
        "CREDENTIAL",
        "CREDENTIALS",
        "COOKIE",
        "PAT",
        "PIN",
    ]
)
# `SSH_KEY_PATH`, `API_KEY_FILE`: where a secret is, which is no secret.
_PLACE_WORDS = frozenset(["DIR", "PATH", "FILE", "URL", "HOST", "NAME", "ID"])
MIN_SECRET = 8  # shorter values are too common in text to star


def expand(value: str, environ: Mapping[str, str], *, where: str, header: bool = False) -> str:
    """`value` with each `${NAME}` replaced; an unset or empty variable is a ConfigError
    naming `where` (e.g. `[mcp.aiml] headers.Authorization`), never an empty secret sent.
    `header`: the value goes in an HTTP header, so whatever fills it is taken for a secret
    (but a variable named for a place: `${TENANT_URL}`)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name)
        if not found:
            raise ConfigError(f"{where} uses ${{{name}}}, which is not set in the environment")
        if len(found) >= MIN_SECRET and (secret_name(name) or (header and not _place(name))):
            redact.add(found)
        return found

    return _VAR.sub(fill, value)


def secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (GITHUB_TOKEN,
    API_KEY, DB_PASSWORD, GH_PAT) by one of its `_`-separated words, not a place or a
    name (PATH, KEYBOARD_LAYOUT, SSH_KEY_PATH)."""
    return not _place(name) and not _SECRET_WORDS.isdisjoint(name.upper().split("_"))


def _place(name: str) -> bool:
    return name.upper().rpartition("_")[2] in _PLACE_WORDS


def expand_headers(
    headers: Mapping[str, str], environ: Mapping[str, str], *, server: str
) -> dict[str, str]:
    return {
        key: expand(value, environ, where=f"[mcp.{server}] headers.{key}", header=True)
        for key, value in headers.items()
    }
