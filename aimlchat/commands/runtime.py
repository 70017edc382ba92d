"""The context a command runs in: its settings, resolved once, and small typed factories
for the client, the history store, the catalogue's prices and the chat.

Which value wins is decided by the pure `aimlchat.settings.resolve.resolve`; this module
does the reading around it (config file, schema file, key) and builds the collaborators.
Built once by the CLI per invocation; heavy modules are imported inside the factories.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aimlchat.commands.tooling import AskFactory, Windows, make_toolbox, model_setting
from aimlchat.errors import ConfigError, StoreError, UsageError
from aimlchat.record import replace
from aimlchat.settings import config
from aimlchat.settings.config import FileConfig, ModelConfig, Paths, Role
from aimlchat.settings.resolve import CONFIG, Flags, Settings, resolve, role_named
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.notify import Notifier
from aimlchat.terminal.output import Output, PlainSink, Sink

if TYPE_CHECKING:
    from aimlchat.api.adapters import OutputFormat
    from aimlchat.api.catalog import Model
    from aimlchat.api.client import Client
    from aimlchat.api.deprecations import Lifecycle
    from aimlchat.api.route import Router
    from aimlchat.chat.budget import Budget
    from aimlchat.chat.session import Chat
    from aimlchat.chat.toolloop import Report
    from aimlchat.chat.transcript import TurnSettings
    from aimlchat.storage.store import Store
    from aimlchat.terminal.spinner import Spinner


class TokenCounts(Protocol):
    """What pricing needs of a reply's usage."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


# -- factories: each builds one collaborator from settings ---------------------------------


def output_format(settings: Settings) -> OutputFormat | None:
    """What the reply must be: --schema FILE (read here) or --format json (any JSON
    object); None for text. The adapter turns it into its API's field."""
    if settings.schema is not None:
        return _schema_format(settings.schema)
    if settings.format == "json":
        from aimlchat.api.adapters import OutputFormat

        return OutputFormat(schema=None)
    return None


def _schema_format(path: Path) -> OutputFormat:
    import shlex

    from aimlchat.api.adapters import OutputFormat
    from aimlchat.utf8 import decode_utf8

    try:
        data = path.read_bytes()
        text = decode_utf8(f"schema file {path}", data, convert=shlex.quote(str(path)))
        schema = json.loads(text)  # decode_utf8 dropped a BOM, which json.loads refuses
    except FileNotFoundError:
        raise UsageError(f"no such schema file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read schema file {path}: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"schema file {path} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise UsageError(f"schema file {path} must hold a JSON object")
    name = str(schema.get("title") or path.stem or "response")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
    return OutputFormat(schema=schema, name=name, strict=True)


def api_key(environ: Mapping[str, str], paths: Paths, cfg: FileConfig) -> str:
    from aimlchat.settings.keys import resolve_key

    key = resolve_key(environ, paths, cfg)
    if not key:
        raise ConfigError("no API key", hint=f"export {config.ENV_KEY}=… or run `aimlchat key set`")
    return key


def make_client(
    settings: Settings,
    key: str | None,
    notifier: Notifier,
    *,
    debug: bool,
    notice: Callable[[str], None] | None = None,
    router: Router | None = None,
    note: Callable[[str], None] | None = None,
) -> Client:
    from aimlchat.api.client import Client

    return Client(
        base_url=settings.base_url,
        api_key=key,
        timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        idle_timeout=settings.idle_timeout,
        retries=settings.retries,
        notice=notice or notifier.info,
        log=notifier.debug if debug else None,
        router=router,
        note=note,
    )


def make_router(
    settings: Settings, models: Mapping[str, ModelConfig], prices: Prices, cache_dir: Path
) -> Router:
    """Which API each model gets (api.route): --api, `[models."NAME"] api` (by the name
    asked, or the catalogue's id or an alias of it), the cached catalogue's `type`, then
    what a server said before, remembered in the cache folder."""
    from aimlchat.api.route import FILE_NAME, Router

    def configured(model: str) -> str | None:
        return model_setting(models, model, prices.find(model), lambda m: m.api)

    def catalogue_type(model: str) -> str | None:
        found = prices.find(model)  # the cached catalogue only: never fetched for this
        return found.type if found else None

    return Router(
        base_url=settings.base_url,
        flag=settings.api,
        configured=configured,
        catalogue_type=catalogue_type,
        memory=cache_dir / FILE_NAME,
    )


def open_store(paths: Paths, settings: Settings, notifier: Notifier) -> Store | None:
    """The history store; None with --no-history, or (with a warning) when it cannot open."""
    if not settings.history:
        return None
    from aimlchat.storage.store import Store

    try:
        return Store(paths.db_file)
    except StoreError as exc:
        if settings.continue_ or settings.session:
            raise
        notifier.warn(f"{exc.message}; history is not being saved")
        return None


class Prices:
    """The cached catalogue: the REPL prices every reply and completes `/model` from it.
    Read again only when the file changes, so `aimlchat models` in another shell shows
    in a running chat at the cost of one stat()."""

    def __init__(self, cache_file: Path, warn: Notifier) -> None:
        self.cache_file = cache_file
        self._notifier = warn
        self._read: tuple[tuple[int, int, int] | None, list[Model]] | None = None

    @property
    def models(self) -> list[Model]:
        try:
            st = self.cache_file.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if self._read is None or self._read[0] != stamp:
            self._read = (stamp, _cached_models(self.cache_file) if stamp else [])
        return self._read[1]

    def find(self, model: str) -> Model | None:
        """The cached catalogue's entry for `model` (an id or an alias), if any."""
        if not self.models:  # nothing cached: the catalogue code need not load
            return None
        from aimlchat.api.catalog import find_model

        return find_model(self.models, model)

    def price(self, model: str, usage: TokenCounts) -> float | None:
        found = self.find(model)
        if found is None:
            return None
        from aimlchat.api.catalog import cost

        return cost(found, usage.prompt_tokens, usage.completion_tokens)

    def warn_unknown(self, model: str) -> None:
        """`-m NAME` that the cached catalogue does not know: say what is close."""
        if not self.models or self.find(model) is not None:
            return
        from aimlchat.api.catalog import closest

        near = closest(self.models, model)
        tail = f"; did you mean {', '.join(near)}?" if near else ""
        self._notifier.warn(f"model {model!r} is not in the catalogue{tail}")


def _cached_models(path: Path) -> list[Model]:
    from aimlchat.api.catalog import cached_models  # only when a catalogue is cached

    return cached_models(path) or []


def _parse_vars(items: list[str]) -> dict[str, str]:
    if not items:
        return {}
    from aimlchat.chat.template import parse_vars

    return parse_vars(items)


# -- the per-command context ----------------------------------------------------------------


class App:
    """One command's wiring: its environment, resolved settings and the factories that
    build its collaborators. Functions below the commands take what they use, not this."""

    def __init__(self, opts: Flags, env: Environment) -> None:
        self.opts = opts
        self.env = env
        env.no_color = env.no_color or opts.no_color
        self.notifier = Notifier(env)
        self.out = Output(env)
        self.paths = Paths.from_env(env.environ)
        self.cfg: FileConfig = config.load_file(self.paths.config_file)
        for warning in self.cfg.warnings:
            self.notifier.warn(warning)
        self.cfg.check()
        self._spinner: Spinner | None = None
        self.vars = _parse_vars(opts.vars)
        self.settings: Settings = self._resolve(opts)
        self.output_format = output_format(self.settings)
        self.prices = Prices(self.models_cache(), self.notifier)
        self._lifecycle: Lifecycle | None = None
        self._key: str | None = None

    # Resolved values, under the names the commands use.
    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def code_theme(self) -> str:
        return self.settings.code_theme

    def _resolve(self, opts: Flags) -> Settings:
        """`resolve`, with the built-in roles when a role is named, and `{{vars}}` filled."""
        settings = resolve(opts, self.env.environ, self.cfg, self.builtin_roles(opts.role))
        from_role = settings.sources.get("system", "").startswith("role ")
        if settings.system is None or not (from_role or self.vars):
            return settings  # nothing to fill (filled_system would give it back as it is)
        from aimlchat.chat.roles import filled_system

        system = filled_system(settings.system, self.vars, role=opts.role if from_role else None)
        return replace(settings, system=system)

    def builtin_roles(self, wanted: str | None = "") -> dict[str, Role]:
        """The roles aimlchat ships; none computed when no role is `wanted` (None)."""
        if wanted is None:
            return {}
        from aimlchat.chat.roles import builtin_roles, cwd_or_home

        return builtin_roles(self.env.environ, cwd_or_home(self.env.environ))

    def role(self, name: str) -> Role:
        """A role by name (config.toml's, else a built-in), its `{{vars}}` filled from -v."""
        from aimlchat.chat.roles import filled_system

        role = role_named(name, self.cfg, self.builtin_roles())
        return replace(role, system=filled_system(role.system, self.vars, role=name))

    def role_names(self) -> list[str]:
        return sorted({*self.builtin_roles(), *self.cfg.roles})

    def api_key(self) -> str:
        # Once per command: an api_key_command runs once, whoever asks.
        if self._key is None:
            self._key = api_key(self.env.environ, self.paths, self.cfg)
        return self._key

    def tool_environ(self) -> dict[str, str]:
        """What `${VAR}` in an MCP server's headers, env and command is filled from: the
        environment, and the key however it was given (`aimlchat key set`, a command), so
        `Bearer ${AIML_API_KEY}` works for every user. A server's process gets only what
        its `env` names of it (tools.mcp.server)."""
        environ = dict(self.env.environ)
        named = f"${{{config.ENV_KEY}}}"
        wanted = any(
            named in value
            for spec in self.cfg.mcp.values()
            for value in (*spec.headers.values(), *spec.env.values(), *(spec.command or ()))
        )
        # Only when a server names it: an api_key_command may prompt, or be slow.
        if wanted and not environ.get(config.ENV_KEY):
            # No key: `${AIML_API_KEY}` is "not set", said when a server uses it.
            with contextlib.suppress(ConfigError):
                environ[config.ENV_KEY] = self.api_key()
        return environ

    def client(self, *, need_key: bool = True) -> Client:
        try:
            key: str | None = self.api_key()
        except ConfigError:
            if need_key:
                raise
            key = None
        client = make_client(
            self.settings,
            key,
            self.notifier,
            debug=self.opts.debug,
            notice=self.notice,
            router=self.router(),
            note=self.notifier.info,  # written with a spinner out of the way
        )
        client.not_found = lambda model, exc: self.lifecycle().explain(
            model, exc, client.quick_deprecations, self.model_source(model)
        )
        if self.settings.sources.get("web_search") == CONFIG:  # not this run's flag
            from aimlchat.api.errors_http import CONFIG_SEARCH_HINT

            client.search_hint = CONFIG_SEARCH_HINT
        return client

    def lifecycle(self) -> Lifecycle:
        """The server's model retirement feed (api.deprecations), for this command."""
        if self._lifecycle is None:
            from aimlchat.api.deprecations import MEMORY_FILE, Lifecycle

            self._lifecycle = Lifecycle(
                self.paths.deprecations_cache(self.settings.base_url),
                self.paths.cache_dir / MEMORY_FILE,
                self.settings.base_url,
                warn=self.notifier.warn,
                note=self.notifier.info,
            )
        return self._lifecycle

    def check_model(self, model: str, source: str | None = None) -> bool:
        """Before sending to `model`: a withdrawn one is refused, a retiring one warned
        about, naming where the name came from (config.toml, a role); whether the feed
        lists it. Only a cached feed is read (a stat when there is none): the feed is
        fetched beside the catalogue."""
        feed = self.paths.deprecations_cache(self.settings.base_url)
        if self._lifecycle is None and not feed.is_file():
            return False
        return self.lifecycle().check(model, source or self.model_source(model))

    def model_source(self, model: str) -> str | None:
        """Where `model` came from when it is the resolved one (config.toml, a role)."""
        return self.settings.sources.get("model") if model == self.model else None

    def router(self) -> Router:
        """Which API each model gets (api.route)."""
        return make_router(self.settings, self.cfg.models, self.prices, self.paths.cache_dir)

    @property
    def spinner(self) -> Spinner | None:
        """The spinner of this run: while it turns, passing notices go beside it and
        every other stderr line is written with it out of the way."""
        return self._spinner

    @spinner.setter
    def spinner(self, spinner: Spinner | None) -> None:
        self._spinner = self.notifier.above = spinner

    @contextlib.contextmanager
    def _tool_spinner(self, label: str) -> Iterator[None]:
        """While a tool runs, on a terminal: its name and the seconds, erased before its
        `←` line; nothing on a pipe. Keys typed meanwhile are not echoed."""
        from aimlchat.osplatform import open_terminal
        from aimlchat.terminal.spinner import Spinner, spinner_wanted

        env = self.env
        wanted = spinner_wanted(env)
        keys, opened = env.stdin_fd(), None
        if wanted and keys is None:  # stdin a pipe: keys are typed on the terminal itself
            opened = open_terminal()
            keys = opened[0] if opened is not None else None
        spinner = Spinner(env.stderr, enabled=wanted, label=f"running {label}", input_fd=keys)
        before, self.spinner = self.spinner, spinner
        try:
            with spinner:
                yield
        finally:
            self.spinner = before
            for fd in set(opened or ()):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def notice(self, text: str) -> None:
        """A passing notice (a retry): beside the spinner while one runs, else on stderr."""
        if self.spinner is not None and self.spinner.active:
            self.spinner.note(text)
        else:
            self.notifier.info(text)

    def store(self) -> Store | None:
        return open_store(self.paths, self.settings, self.notifier)

    def budget(self, store: Store | None) -> Budget | None:
        """--max-cost and max_cost_per_day (chat.budget); None when neither is set.
        The day's spend is what history recorded: `store`, else (this run not saving)
        the database read read-only; with no history at all, this run's only."""
        s = self.settings
        if s.max_cost is None and s.max_cost_per_day is None:
            return None  # the budget module need not load
        from aimlchat.chat.budget import Budget

        daily = s.max_cost_per_day
        recorded: Callable[[float], float] | None = None
        if daily is not None:
            recorded = store.spent if store is not None else self.recorded_spend()
        return Budget(
            limit=s.max_cost,
            daily=daily,
            daily_source=s.sources.get("max_cost_per_day", CONFIG),
            recorded=recorded,
        )

    def recorded_spend(self) -> Callable[[float], float] | None:
        """The day's spend as history recorded it, read-only (storage.spend); None, with
        a warning, when there is no history to read: this run's spend counts alone."""
        from aimlchat.storage.spend import history_spend

        reader = history_spend(self.paths.db_file)
        if reader is None or isinstance(reader, str):
            off = "history is off and " if not self.settings.history else ""
            why = reader or f"{off}there is no history yet"
            self.notifier.warn(
                f"max_cost_per_day: {why}, so only this run's spend counts toward today's"
            )
            return None
        return reader

    def reply_sink(self) -> Sink:
        """Where a reply goes: exact bytes to a pipe; Markdown (or --raw text) on a
        terminal, after the model's thinking, shown while it lasts and then summed up."""
        if not self.env.stdout_tty:  # decided here too, so a pipe loads no renderer
            return PlainSink(self.out)
        from aimlchat.chat.tokens import text_tokens
        from aimlchat.terminal.reasoning import with_thinking
        from aimlchat.terminal.render import make_sink

        answer = make_sink(self.env, raw=self.opts.raw, code_theme=self.code_theme)
        keep = self.opts.show_reasoning
        return with_thinking(self.env, answer, raw=self.opts.raw, keep=keep, estimate=text_tokens)

    def models_cache(self) -> Path:
        return self.paths.models_cache(self.settings.base_url)

    def windows(self) -> Windows:
        """Each model's context window, from the flag, config.toml, the catalogue and
        what servers stated before."""
        return Windows(
            find=self.prices.find,
            configured=self.cfg.models,
            flag=self.settings.context_length,
            base_url=self.settings.base_url,
            cache_dir=self.paths.cache_dir,
        )

    def turn_settings(self, *, stream: bool) -> TurnSettings:
        """What each turn sends besides the conversation: the resolved settings."""
        from aimlchat.chat.transcript import TurnSettings

        s = self.settings
        return TurnSettings(
            model=s.model,
            system=s.system,
            params=dict(s.params),
            format=self.output_format,
            stream=stream,
            api=s.api,
            web_search=s.web_search,
        )

    def open_chat(
        self, *, stream: bool, ask: AskFactory | None = None, report: Report | None = None
    ) -> Chat:
        """The conversation a command talks in: new, --continue or --session NAME.
        `ask` asks for consent to run a tool call; `report` gets --ndjson's tool events."""
        from aimlchat.chat.session import Chat

        client = self.client()  # no key: fail before touching the history database
        tools = make_toolbox(  # -T typo: exit 2, nothing opened
            self.settings,
            self.cfg,
            self.notifier,
            self.env.environ,
            mcp_environ=self.tool_environ() if self.cfg.mcp else {},
            log_dir=self.paths.log_dir,
            ask=ask,
            report=report,
            debug=self.opts.debug,
            busy=self._tool_spinner,
        )
        resuming = bool(self.settings.continue_ or self.settings.session)
        # The feed before the history opens: a withdrawn model is refused; one it lists
        # is retiring, not unknown (it may have left the catalogue already).
        retiring = (bool(self.opts.model) or not resuming) and self.check_model(self.model)
        if self.opts.model and not retiring:
            self.prices.warn_unknown(self.model)
        store = self.store()
        cid, name = open_conversation(store, self.settings, self.notifier)
        windows = self.windows()
        chat = Chat(
            client,
            self.turn_settings(stream=stream),
            store=store,
            warn=self.notifier.warn,
            conversation_id=cid,
            name=name,
            price=self.prices.price,
            tools=tools,
            window=windows.window,
            note=self.notifier.info,  # written with a spinner out of the way
            learn=windows.remember,
            budget=self.budget(store),
        )
        if self.opts.model:  # an explicit -m wins over the model a resumed conversation used
            chat.settings.model = self.model
        elif resuming:
            try:
                self.check_model(chat.settings.model)
            except UsageError:
                if store is not None:
                    store.close()
                raise
        return chat


def open_conversation(
    store: Store | None, settings: Settings, notifier: Notifier
) -> tuple[int | None, str | None]:
    """The conversation to append to: --continue, --session NAME, or a new one."""
    if store is None:
        return None, settings.session
    if settings.continue_:
        cid = store.latest()
        if cid is None:
            notifier.info("no earlier conversation; starting a new one")
        return cid, None
    from aimlchat.storage.refs import is_id

    ref = settings.session
    if ref and is_id(ref):  # an id resumes that conversation; it never names a new one
        return store.resolve(ref), None
    if ref:
        return store.find(ref), ref
    return None, None
