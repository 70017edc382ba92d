"""Where files live (XDG, else platformdirs), and config.toml read and checked key by key.

Nothing here runs at import time. Which value wins (flag > env > file > default) is
decided in `aimlchat.settings.resolve`.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aimlchat.errors import ConfigError, UsageError
from aimlchat.record import record
from aimlchat.settings import params
from aimlchat.utf8 import decode_utf8
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.tools.mcp.config import ServerSpec
    from aimlchat.tools.spec import ToolSpec

APP = "aimlchat"
ENV_KEY = "AIML_API_KEY"
SECRET_KEYS = ("api_key",)


# The XDG spec's defaults, which platformdirs also gives on Linux and the BSDs.
_XDG_DEFAULTS = {
    "config": (".config",),
    "data": (".local", "share"),
    "cache": (".cache",),
    "state": (".local", "state"),
}


def _folder(environ: Mapping[str, str], var: str, kind: str) -> Path:
    """$XDG_…_HOME/aimlchat when that is set (on any system, as the XDG spec asks), else
    this system's own place: the XDG defaults (~/.config/aimlchat and the like) on Linux
    and the BSDs, and platformdirs' answer on macOS (~/Library/…) and Windows
    (%LOCALAPPDATA%\\aimlchat) — unless 0.2.0 left its folder there already."""
    value = environ.get(var, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value) / APP
    home = environ.get("HOME") or os.path.expanduser("~")
    xdg = Path(home, *_XDG_DEFAULTS[kind], APP)
    if sys.platform not in ("darwin", "win32"):
        # The spec's own default, spelled out: platformdirs answers the same, but importing
        # it costs a piped `ask` 4 ms. An injected environment's HOME wins.
        return xdg
    import platformdirs  # here, not at the top: only commands that touch files need it

    user_dir: Callable[..., str] = getattr(platformdirs, f"user_{kind}_dir")
    path = Path(user_dir(APP, appauthor=False))
    # platformdirs reads the process's HOME; an injected environment's HOME wins (macOS).
    own_home = Path(os.path.expanduser("~"))
    if os.path.isabs(home) and sys.platform != "win32" and path.is_relative_to(own_home):
        path = Path(home) / path.relative_to(own_home)
    # Up to 0.2.0 every system used the XDG folders: a user who has one keeps it (their key,
    # config and history) until the system's own folder exists.
    if xdg.is_dir() and not path.exists():
        return xdg
    return path


@record(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    state_dir: Path  # what outlives a run but is no one's data: logs

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Paths:
        return cls(
            config_dir=_folder(environ, "XDG_CONFIG_HOME", "config"),
            data_dir=_folder(environ, "XDG_DATA_HOME", "data"),
            cache_dir=_folder(environ, "XDG_CACHE_HOME", "cache"),
            state_dir=_folder(environ, "XDG_STATE_HOME", "state"),
        )

    @property
    def log_dir(self) -> Path:
        """MCP servers' stderr (mcp-NAME.log); made 0700 when first written to."""
        return self.state_dir / "logs"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def key_file(self) -> Path:
        return self.config_dir / "api_key"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "history.db"

    def models_cache(self, base_url: str) -> Path:
        """The cached catalogue of one server (`aimlchat models` fills it)."""
        import hashlib

        digest = hashlib.sha256(base_url.encode()).hexdigest()[:12]
        return self.cache_dir / f"models-{digest}.json"

    def deprecations_cache(self, base_url: str) -> Path:
        """The cached model retirement feed of one server (api.deprecations)."""
        import hashlib

        digest = hashlib.sha256(base_url.encode()).hexdigest()[:12]
        return self.cache_dir / f"deprecations-{digest}.json"

    @property
    def input_history_file(self) -> Path:
        return self.data_dir / "input_history"


@record()
class Role:
    """A named setup from `[roles]`: a system prompt, and optionally a model, params and
    the tools it offers the model (names of `[tools.NAME]` or built-in tools)."""

    system: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)


@record()
class ModelConfig:
    """`[models."NAME"]`: what config.toml says about one model."""

    context_length: int | None = None
    api: str | None = None  # "chat" or "responses" (api.route)


@record()
class FileConfig:
    """The contents of config.toml, each key checked on its own.

    A bad value is left out and recorded in `errors` (commands refuse to run with
    `check()`; `config show` still shows the rest); an unknown key is recorded in
    `warnings` with the closest known one, and ignored.
    """

    path: Path
    settings: dict[str, Any] = field(default_factory=dict)  # top-level TABLE entries
    api_key: str | None = None
    api_key_command: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # [params]: checked TABLE entries
    body: dict[str, Any] = field(default_factory=dict)  # [body]: any field, sent as given
    roles: dict[str, Role] = field(default_factory=dict)
    tools: dict[str, ToolSpec] = field(default_factory=dict)  # [tools.NAME], as declared
    mcp: dict[str, ServerSpec] = field(default_factory=dict)  # [mcp.NAME]: MCP servers
    models: dict[str, ModelConfig] = field(default_factory=dict)  # [models."NAME"]
    raw: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Refuse a broken file in one line: its first problem, and where all are listed."""
        if not self.errors:
            return
        count = len(self.errors)
        more = f" (and {plural(count - 1, 'more error')})" if count > 1 else ""
        raise ConfigError(
            f"{self.path}: {self.errors[0]}{more}",
            hint=f"all {count} listed by: aimlchat config show"
            if count > 1
            else "fix it with: aimlchat config edit",
        )


SETTING_KEYS = tuple(p.name for p in params.TABLE if p.in_config and not p.body)
TOP_KEYS = (
    *SETTING_KEYS, "api_key", "api_key_command", "params", "body", "roles", "tools", "mcp", "models"
)  # fmt: skip
ROLE_KEYS = ("system", "model", "params", "tools")
MODEL_KEYS = ("context_length", "api")
PARAM_KEYS = tuple(p.name for p in params.BODY if p.in_config)


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


def load_file(path: Path) -> FileConfig:
    """Read config.toml; a missing file is an empty config. Never raises for its content."""
    cfg = FileConfig(path=path)
    try:
        cfg.raw = _toml_loads(decode_utf8("the file", path.read_bytes()))  # a BOM dropped
    except FileNotFoundError:
        return cfg
    except OSError as exc:
        cfg.errors.append(f"cannot read it: {exc}")
        return cfg
    except (ConfigError, UsageError) as exc:  # invalid TOML; not UTF-8
        cfg.errors.append(exc.message)
        return cfg
    _Reader(cfg).read(cfg.raw)
    return cfg


class _Reader:
    """Checks each key of the parsed TOML, collecting what is wrong instead of stopping."""

    def __init__(self, cfg: FileConfig) -> None:
        self.cfg = cfg

    def _unknown(self, key: str, known: tuple[str, ...], where: str, what: str) -> None:
        near = params.closest(key, known)
        tail = f" (did you mean {near!r}?)" if near else ""
        self.cfg.warnings.append(f"config.toml: unknown key {key!r}{where}{tail}; {what}")

    def _try(self, check: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return check(*args, **kw)
        except (ConfigError, UsageError) as exc:
            # The hint with it (`did you mean allow?`): the file's error is told in one
            # line, whose own hint says how to fix the file.
            hint = f"; {exc.hint}" if exc.hint else ""
            self.cfg.errors.append(exc.message + hint)
            return None

    def read(self, data: dict[str, Any]) -> None:
        cfg = self.cfg
        for key, value in data.items():
            if key in SETTING_KEYS:
                cfg.settings[key] = self._try(_setting, key, value)
            elif key in ("api_key", "api_key_command"):
                setattr(cfg, key, self._try(_string, key, value))
            elif key == "params":
                cfg.params = self._params(self._try(_table, key, value) or {}, "params")
                self._together(cfg.params)
            elif key == "body":
                cfg.body = self._body(self._try(_table, key, value) or {})
            elif key == "roles":
                self._roles(self._try(_table, key, value) or {})
            elif key == "tools":
                self._tools(self._try(_table, key, value) or {})
            elif key == "mcp":
                self._mcp(self._try(_table, key, value) or {})
            elif key == "models":
                self._models(self._try(_table, key, value) or {})
            else:
                self._unknown_top(key)
        cfg.settings = {k: v for k, v in cfg.settings.items() if v is not None}
        if cfg.mcp:
            self._servers_apart_from_tools()

    def _unknown_top(self, key: str) -> None:
        """A request parameter written above every table (`temperature = 0.2` before
        `[params]`) is told where it belongs; anything else gets the nearest key."""
        name = params.canonical(key)
        if name in PARAM_KEYS:
            self.cfg.warnings.append(
                f"config.toml: {key!r} belongs under [params] (write it below the [params] "
                "line); ignored here"
            )
        elif params.closest(key, TOP_KEYS) is None and params.closest(key, PARAM_KEYS):
            near = params.closest(key, PARAM_KEYS)
            tail = f"(did you mean {near!r} under [params]?); ignored"
            self.cfg.warnings.append(f"config.toml: unknown key {key!r} {tail}")
        else:
            self._unknown(key, TOP_KEYS, "", "ignored")

    def _params(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for key, value in table.items():
            name = params.canonical(key)
            if name not in PARAM_KEYS:
                self._unknown(
                    key, PARAM_KEYS, f" in [{where}]", "not sent (use [body] for any field)"
                )
                continue
            found = self._try(params.check, name, value, source=f"{where}.{key}")
            if found is not None:
                checked[name] = found
        return checked

    def _together(self, table: dict[str, Any]) -> None:
        """`top_logprobs` without `logprobs = true`: an error, and the value left out."""
        try:
            params.check_together(table, lambda name: f"params.{name}")
        except UsageError as exc:
            self.cfg.errors.append(exc.message)
            for param in params.BODY:
                if param.requires and table.get(param.requires) is not True:
                    table.pop(param.name, None)

    def _body(self, table: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in table.items():
            found = self._try(params.body_field, key, value, source=f"body.{key}")
            if found is not None:
                fields[found[0]] = found[1]
        return fields

    def _roles(self, table: dict[str, Any]) -> None:
        for name, spec in table.items():
            if isinstance(spec, str):
                self.cfg.roles[name] = Role(system=spec)
            elif isinstance(spec, dict):
                self.cfg.roles[name] = self._role(name, spec)
            else:
                self.cfg.errors.append(f"roles.{name} must be a string or a table")

    def _role(self, name: str, spec: dict[str, Any]) -> Role:
        role = Role()
        for key, value in spec.items():
            if key in ("system", "model"):
                setattr(role, key, self._try(_string, f"roles.{name}.{key}", value))
            elif key == "params":
                where = f"roles.{name}.params"
                role.params = self._params(self._try(_table, where, value) or {}, where)
            elif key == "tools":
                role.tools = self._try(_names, f"roles.{name}.tools", value) or []
            else:
                self._unknown(key, ROLE_KEYS, f" in [roles.{name}]", "ignored")
        return role

    def _tools(self, table: dict[str, Any]) -> None:
        from aimlchat.tools.spec import parse_tool

        for name, spec in table.items():
            tool = self._try(parse_tool, str(name), spec)
            if tool is not None:
                self.cfg.tools[tool.name] = tool

    def _mcp(self, table: dict[str, Any]) -> None:
        from aimlchat.tools.mcp.config import parse_server

        for name, spec in table.items():
            server = self._try(parse_server, str(name), spec)
            if server is not None:
                self.cfg.mcp[server.name] = server

    def _servers_apart_from_tools(self) -> None:
        """`-T NAME` names a tool or a whole server: one name cannot be both."""
        from aimlchat.tools.spec import BUILTINS

        for name in list(self.cfg.mcp):
            if name in self.cfg.tools or name in BUILTINS:
                what = "a built-in tool" if name in BUILTINS else f"[tools.{name}]"
                self.cfg.errors.append(
                    f"[mcp.{name}] has the name of {what}: -T {name} would be ambiguous"
                )
                del self.cfg.mcp[name]
        from aimlchat.tools.mcp.config import foreign_entries

        self.cfg.errors += foreign_entries(self.cfg.mcp)

    def _models(self, table: dict[str, Any]) -> None:
        for name, spec in table.items():
            where = f"models.{name}"
            if not isinstance(spec, dict):
                self.cfg.errors.append(f'{where} must be a table ([models."{name}"])')
                continue
            model = self.cfg.models[name] = ModelConfig()
            for key, value in spec.items():
                if key in MODEL_KEYS:
                    setattr(
                        model, key, self._try(params.check, key, value, source=f"{where}.{key}")
                    )
                else:
                    self._unknown(key, MODEL_KEYS, f' in [models."{name}"]', "ignored")


def _setting(key: str, value: Any) -> Any:
    checked = params.check(key, value, source=key)
    if key == "base_url":
        check_base_url(checked, allow_insecure=True)  # plain http is judged with the flags
    return checked


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value


def _names(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f'{key} must be a list of names (tools = ["weather"])')
    return list(value)


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a table ([{key}])")
    return value


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


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_insecure: bool = False) -> str:
    """Refuse URLs that cannot work, and plain http to anything but this machine."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range, as requests would later
    except ValueError:  # "Invalid IPv6 URL", a port that is not a number
        parts = urlsplit("")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    ):
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
