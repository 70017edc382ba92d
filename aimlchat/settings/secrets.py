"""What counts as a secret: the names of settings and body fields that hold one (masked
by `config show`). The environment a child process must not inherit is
`aimlchat.tools.run.tool_environment`'s."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# A name is secret when its LAST word is one of these. Words are split at `_`, `-`, `.`
# and camelCase: `api_key`, `auth_token`, `client_secret`, `accessToken` are secrets;
# `max_tokens`, `max_completion_tokens`, `top_logprobs`, `api_key_command` are not (a
# plural is a count or a list, and a command only says how to get the key).
SECRET_WORDS = frozenset(
    {"key", "apikey", "accesskey", "secretkey", "privatekey", "token", "secret", "password",
     "passwd", "passphrase", "credentials", "authorization", "cookie", "pat"}
)  # fmt: skip
# A last word run together (`APITOKEN`, `DBPASSWORD`) ending in one of these; not `key`,
# which ends `monkey` and `hotkey`.
_SECRET_ENDINGS = ("token", "secret", "password", "passwd")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
MASK = "***"


def is_secret_name(name: str) -> bool:
    words = _WORD.findall(name)
    last = words[-1].lower() if words else ""
    return last in SECRET_WORDS or last.endswith(_SECRET_ENDINGS)


def masked(name: str, value: Any) -> Any:
    """`value` to show for the setting `name`: a secret's as `***`, inside tables too
    (`[body] extra_headers = { Authorization = "…" }`)."""
    if is_secret_name(name):
        return MASK if value not in (None, "") else value
    if isinstance(value, Mapping):
        return {key: masked(str(key), item) for key, item in value.items()}
    return value
