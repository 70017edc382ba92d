"""Where files live (XDG) and what the settings are: flag > env > config file > default.

Nothing here runs at import time; `load` is called by the CLI when a command needs it.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aimlchat.errors import ConfigError, UsageError
from aimlchat.settings import params

APP = "aimlchat"
DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "meta-llama/llama-4-scout"
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
DEFAULT_CODE_THEME = "monokai"
ENV_KEY = "AIML_API_KEY"
ENV_BASE_URL = "AIMLCHAT_BASE_URL"
ENV_MODEL = "AIMLCHAT_MODEL"
SECRET_KEYS = ("api_key",)


def _xdg(environ: Mapping[str, str], var: str, fallback: str) -> Path:
    value = environ.get(var, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value) / APP
    return Path(environ.get("HOME") or Path.home()) / fallback / APP


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Paths:
        return cls(
            config_dir=_xdg(environ, "XDG_CONFIG_HOME", ".config"),
            data_dir=_xdg(environ, "XDG_DATA_HOME", ".local/share"),
            cache_dir=_xdg(environ, "XDG_CACHE_HOME", ".cache"),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def key_file(self) -> Path:
        return self.config_dir / "api_key"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "history.db"

    @property
    def input_history_file(self) -> Path:
        return self.data_dir / "input_history"

    @property
    def models_cache_dir(self) -> Path:
        return self.cache_dir


@dataclass
class FileConfig:
    """The parsed, checked contents of config.toml."""

    path: Path
    model: str | None = None
    base_url: str | None = None
    timeout: float | None = None
    retries: int | None = None
    code_theme: str | None = None
    api_key: str | None = None
    api_key_command: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on 3.10
        import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from None


def _expect(data: dict[str, Any], key: str, kinds: tuple[type, ...], what: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(f"'{key}' must be {what}")
    return value


def load_file(path: Path) -> FileConfig:
    """Read config.toml; a missing file is an empty config, a broken one a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileConfig(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = _toml_loads(text)
        cfg = FileConfig(
            path=path,
            model=_expect(data, "model", (str,), "a string"),
            base_url=_expect(data, "base_url", (str,), "a string"),
            timeout=_expect(data, "timeout", (int, float), "a number of seconds"),
            retries=_expect(data, "retries", (int,), "a whole number"),
            code_theme=_expect(data, "code_theme", (str,), "a string"),
            api_key=_expect(data, "api_key", (str,), "a string"),
            api_key_command=_expect(data, "api_key_command", (str,), "a string"),
            raw=data,
        )
        table = _expect(data, "params", (dict,), "a table")
        for name, value in (table or {}).items():
            key = params.canonical(name)
            if key == "stop":
                stops = [value] if isinstance(value, str) else value
                cfg.params[key] = params.check_stop(list(stops), source="params.stop")
            elif key in params.SPECS:
                cfg.params[key] = params.check(key, value, source=f"params.{name}")
            else:
                cfg.params[name] = value
        roles = _expect(data, "roles", (dict,), 'a table of name = "system prompt"')
        for name, prompt in (roles or {}).items():
            if not isinstance(prompt, str):
                raise ConfigError(f"roles.{name} must be a string")
            cfg.roles[name] = prompt
    except (ConfigError, UsageError) as exc:
        raise ConfigError(f"{path}: {exc.message}") from None
    return cfg


def redacted(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config for display, with secrets masked."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECRET_KEYS or ("key" in key.lower() and "command" not in key.lower()):
            out[key] = "***" if value else value
        elif isinstance(value, dict):
            out[key] = redacted(value)
        else:
            out[key] = value
    return out


def pick(*values: Any) -> Any:
    """The first value that is set: flag, env, config file, default."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_insecure: bool = False) -> str:
    """Refuse URLs that cannot work, and plain http to anything but this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid base URL {url!r}", hint="expected e.g. https://api.aimlapi.com/v1"
        )
    if parts.username or parts.password:
        raise UsageError("the base URL must not carry credentials; use AIML_API_KEY")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure:
        raise UsageError(
            f"refusing to send the API key over plain http to {parts.hostname}",
            hint="use https, or pass --allow-insecure if you really mean it",
        )
    return url.rstrip("/")
