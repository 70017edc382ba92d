"""The runtime a command works in: options resolved against env and config, and the
factories for the client, the history store and the catalogue's prices.

Built once by the CLI per invocation; nothing here happens at import time.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimlchat.errors import ConfigError, UsageError
from aimlchat.settings import config, params
from aimlchat.settings.config import FileConfig, Paths
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.notify import Notifier
from aimlchat.terminal.output import Output

if TYPE_CHECKING:
    from aimlchat.chat.session import Chat


@dataclass
class RequestOptions:
    """Options shared by `ask` and `chat`, as given on the command line (None = not given)."""

    model: str | None = None
    system: str | None = None
    role: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # -o KEY=VALUE
    no_stream: bool = False
    base_url: str | None = None
    timeout: float | None = None
    retries: int | None = None
    raw: bool = False
    debug: bool = False
    no_color: bool = False
    allow_insecure: bool = False
    format: str | None = None
    schema: Path | None = None
    code_theme: str | None = None
    continue_: bool = False
    session: str | None = None
    no_history: bool = False
    attach: list[str] = field(default_factory=list)
    image_detail: str | None = None
    usage: bool = False


def _schema_format(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such schema file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read schema file {path}: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"schema file {path} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise UsageError(f"schema file {path} must hold a JSON object")
    name = str(schema.get("title") or path.stem or "response")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


class App:
    def __init__(self, opts: RequestOptions, env: Environment) -> None:
        self.opts = opts
        self.env = env
        env.no_color = env.no_color or opts.no_color
        self.notifier = Notifier(env)
        self.out = Output(env)
        self.paths = Paths.from_env(env.environ)
        self.cfg: FileConfig = config.load_file(self.paths.config_file)
        self._check_usage()

    # -- resolution: flag > env > config > default -------------------------------------

    def _check_usage(self) -> None:
        """Every usage problem, before anything touches the network."""
        o = self.opts
        for name, value in o.sampling.items():
            if value is not None:
                params.check(name, value)
        params.check_stop(o.stop)
        for item in o.extra:
            params.parse_option(item)
        if o.timeout is not None and o.timeout <= 0:
            raise UsageError(f"--timeout must be more than 0 seconds (got {o.timeout:g})")
        if o.retries is not None and not 0 <= o.retries <= 10:
            raise UsageError(f"--retries must be between 0 and 10 (got {o.retries})")
        if o.format is not None and o.format not in ("json", "text"):
            raise UsageError(f"--format must be json or text (got {o.format!r})")
        if o.format and o.schema:
            raise UsageError("use --format or --schema, not both")
        if o.continue_ and o.session:
            raise UsageError("use --continue or --session, not both")
        self.base_url = config.check_base_url(
            config.pick(
                o.base_url,
                self.env.environ.get(config.ENV_BASE_URL),
                self.cfg.base_url,
                config.DEFAULT_BASE_URL,
            ),
            allow_insecure=o.allow_insecure,
        )
        self.response_format = self._response_format()
        self.system = self._system()

    @property
    def model(self) -> str:
        return str(
            config.pick(
                self.opts.model,
                self.env.environ.get(config.ENV_MODEL),
                self.cfg.model,
                config.DEFAULT_MODEL,
            )
        )

    @property
    def timeout(self) -> float:
        return float(config.pick(self.opts.timeout, self.cfg.timeout, config.DEFAULT_TIMEOUT))

    @property
    def retries(self) -> int:
        return int(config.pick(self.opts.retries, self.cfg.retries, config.DEFAULT_RETRIES))

    @property
    def code_theme(self) -> str:
        return str(
            config.pick(self.opts.code_theme, self.cfg.code_theme, config.DEFAULT_CODE_THEME)
        )

    def _system(self) -> str | None:
        if self.opts.role is not None:
            return self.role_prompt(self.opts.role)
        return self.opts.system

    def role_prompt(self, role: str) -> str:
        if role not in self.cfg.roles:
            known = ", ".join(sorted(self.cfg.roles)) or "none defined"
            raise UsageError(
                f"unknown role {role!r} (roles: {known})",
                hint=f'add [roles] {role} = "…" to {self.paths.config_file}',
            )
        return self.cfg.roles[role]

    def _response_format(self) -> dict[str, Any] | None:
        if self.opts.schema is not None:
            return _schema_format(self.opts.schema)
        if self.opts.format == "json":
            return {"type": "json_object"}
        return None

    def request_params(self) -> dict[str, Any]:
        """Body fields from config, then flags, then -o (last wins)."""
        merged: dict[str, Any] = dict(self.cfg.params)
        merged.update({k: v for k, v in self.opts.sampling.items() if v is not None})
        if self.opts.stop:
            merged["stop"] = list(self.opts.stop)
        for item in self.opts.extra:
            key, value = params.parse_option(item)
            merged[key] = value
        return merged

    # -- factories --------------------------------------------------------------------

    def api_key(self) -> str:
        from aimlchat.settings.keys import resolve_key

        key = resolve_key(self.env.environ, self.paths, self.cfg)
        if not key:
            raise ConfigError(
                "no API key",
                hint=f"export {config.ENV_KEY}=… or run `aimlchat key set`",
            )
        return key

    def client(self, *, need_key: bool = True) -> Any:
        from aimlchat.api.client import Client

        if need_key:
            key: str | None = self.api_key()
        else:
            try:
                key = self.api_key()
            except ConfigError:
                key = None
        log = self.notifier.raw if self.opts.debug else None
        return Client(
            base_url=self.base_url,
            api_key=key,
            timeout=self.timeout,
            retries=self.retries,
            notice=self.notifier.info,
            log=log,
        )

    def store(self) -> Any:
        """The history store, or None (with a warning) when it cannot be opened."""
        if self.opts.no_history:
            return None
        from aimlchat.errors import StoreError
        from aimlchat.storage.store import Store

        try:
            return Store(self.paths.db_file)
        except StoreError as exc:
            if self.opts.continue_ or self.opts.session:
                raise
            self.notifier.warn(f"{exc.message}; history is not being saved")
            return None

    def models_cache(self) -> Path:
        from aimlchat.api.catalog import cache_file

        return cache_file(self.paths.cache_dir, self.base_url)

    @functools.cached_property
    def _catalogue(self) -> list[Any]:
        """The cached catalogue, read once: the REPL prices every reply from it."""
        from aimlchat.api.catalog import cached_models

        return cached_models(self.models_cache()) or []

    def price(self, model: str, usage: Any) -> float | None:
        from aimlchat.api.catalog import cost, find_model

        found = find_model(self._catalogue, model)
        return cost(found, usage.prompt_tokens, usage.completion_tokens)

    def warn_unknown_model(self, model: str) -> None:
        """`-m NAME` that the cached catalogue does not know: say what is close."""
        from aimlchat.api.catalog import closest, find_model

        models = self._catalogue
        if not models or find_model(models, model) is not None:
            return
        near = closest(models, model)
        tail = f"; did you mean {', '.join(near)}?" if near else ""
        self.notifier.warn(f"model {model!r} is not in the catalogue{tail}")

    def open_chat(self, *, stream: bool) -> Chat:
        """The conversation a command talks in: new, --continue or --session NAME."""
        from aimlchat.chat.session import Chat, Settings

        client = self.client()  # no key: fail before touching the history database
        if self.opts.model:
            self.warn_unknown_model(self.model)
        store = self.store()
        cid, name = self.open_conversation(store)
        settings = Settings(
            model=self.model,
            system=self.system,
            params=self.request_params(),
            response_format=self.response_format,
            stream=stream,
        )
        chat = Chat(
            client,
            settings,
            store=store,
            warn=self.notifier.warn,
            conversation_id=cid,
            name=name,
            price=self.price,
        )
        if self.opts.model:  # an explicit -m wins over the model a resumed conversation used
            chat.settings.model = self.model
        return chat

    def open_conversation(self, store: Any) -> tuple[int | None, str | None]:
        """The conversation to append to: --continue, --session NAME, or a new one."""
        if store is None:
            return None, self.opts.session
        if self.opts.continue_:
            cid = store.latest()
            if cid is None:
                self.notifier.info("no earlier conversation; starting a new one")
            return cid, None
        if self.opts.session:
            return store.find(self.opts.session), self.opts.session
        return None, None
