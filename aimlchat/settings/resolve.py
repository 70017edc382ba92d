"""Which value wins: flag > role > env > config file > default, decided by a pure function.

`resolve` reads nothing: the caller passes the flags, the environment mapping and the
parsed config. It returns frozen `Settings` that remember where each value came from,
which `aimlchat config show` prints. Every usage problem is raised here, before anything
touches the network or the history database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from aimlchat.errors import UsageError
from aimlchat.record import record, replace
from aimlchat.settings import params, parse
from aimlchat.settings.config import FileConfig, Role, check_base_url
from aimlchat.words import did_you_mean

FLAG = "flag"
DEFAULT = "default"
CONFIG = "config.toml"


@record()
class Flags:
    """What the command line gave `ask` or `chat` (None, False or empty: not given).

    Each setting of `params.TABLE` (body=False) has a field of the same name; the body
    parameters given as flags are in `params`.
    """

    model: str | None = None
    system: str | None = None
    role: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)  # -o KEY=VALUE
    no_stream: bool = False
    base_url: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    retries: int | None = None
    raw: bool = False
    show_reasoning: bool = False  # keep the thinking on screen (on a terminal)
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
    web_search: str | None = None  # low | medium | high
    api: str | None = None  # chat | responses; None: api.route decides per model
    usage: bool = False
    context_length: int | None = None
    max_steps: int | None = None
    # USD as typed (`0.05`, `$0.05`; `off` for the day's): params.check reads them.
    max_cost: float | str | None = None  # this ask, or this chat session (chat.budget)
    max_cost_per_day: float | str | None = None  # over config.toml's for this run
    tools: list[str] = field(default_factory=list)  # -T NAME (or all)
    files: list[str] = field(default_factory=list)  # -f PATH|DIR|GLOB|URL|-
    vars: list[str] = field(default_factory=list)  # -v NAME=VALUE for {{NAME}}
    yes: bool = False  # run tool calls without asking


@record(frozen=True)
class Settings:
    """The effective settings of one command, and where each came from."""

    model: str
    base_url: str
    timeout: float
    retries: int
    code_theme: str
    system: str | None = None
    role: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # body fields besides the messages
    format: str | None = None
    image_detail: str | None = None
    web_search: str | None = None  # low | medium | high: search context size
    api: str | None = None  # --api chat|responses; None: api.route decides per model
    schema: Path | None = None
    stream: bool = True
    history: bool = True
    continue_: bool = False
    session: str | None = None
    context_length: int | None = None
    max_steps: int = 8
    max_cost: float | None = None
    max_cost_per_day: float | None = None
    connect_timeout: float = 10.0
    idle_timeout: float | None = None  # None: the same as `timeout`
    tools: tuple[str, ...] = ()
    yes: bool = False
    # "model" -> "flag --model", "env AIMLCHAT_MODEL", "config.toml", "role NAME", "default";
    # body fields are keyed "params.NAME".
    sources: Mapping[str, str] = field(default_factory=dict)


def resolve(
    flags: Flags,
    environ: Mapping[str, str],
    cfg: FileConfig,
    builtins: Mapping[str, Role] | None = None,
) -> Settings:
    """The settings for one command. Pure: no file, network or environment is read here.

    `cfg` is taken as it is; refusing a broken file (`cfg.check()`) is the caller's call,
    so `config show` can still show one. `builtins` are the roles aimlchat ships (`cmd`);
    a config.toml role of the same name wins.
    """
    _check_combinations(flags)
    role = None if flags.role is None else role_named(flags.role, cfg, builtins)
    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    for param in params.TABLE:
        if not param.body:
            values[param.name] = _setting(param, flags, role, environ, cfg, sources)
    values["base_url"] = check_base_url(values["base_url"], allow_insecure=flags.allow_insecure)
    if values["web_search"] == "off":  # --web-search off: no search, whatever config says
        values["web_search"] = None
    body = _body(flags, role, cfg, sources)
    system = _system(flags, role, sources)
    return Settings(
        **values,
        system=system,
        role=flags.role,
        params=body,
        schema=flags.schema,
        stream=not flags.no_stream,
        history=not flags.no_history,
        continue_=flags.continue_,
        session=flags.session,
        tools=_tools(flags, role),
        yes=flags.yes,
        sources=sources,
    )


def _check_combinations(flags: Flags) -> None:
    if flags.web_search is not None and not flags.web_search.strip():  # `--web-search ""`
        raise UsageError(
            "--web-search needs low, medium, high or off",
            hint="off asks for no search, whatever config.toml says",
        )
    if flags.session is not None and not flags.session.strip():  # `--session "$UNSET"`
        raise UsageError("--session needs a name or an id", hint="see: aimlchat history list")
    if flags.format and flags.schema:
        raise UsageError("use --format or --schema, not both")
    if flags.continue_ and flags.session:
        raise UsageError("use --continue or --session, not both")
    for wanted, given in (("--continue", flags.continue_), ("--session", flags.session)):
        if given and flags.no_history:
            raise UsageError(
                f"{wanted} needs the history that --no-history turns off",
                hint=f"drop --no-history, or {wanted}",
            )


def role_named(name: str, cfg: FileConfig, builtins: Mapping[str, Role] | None = None) -> Role:
    """The role `name` from config.toml, else a built-in one; or a UsageError naming them.

    A config.toml role with a built-in's name changes what it sets (`[roles.cmd] model =
    "…"`) and keeps the built-in system prompt unless it sets its own.
    """
    builtins = builtins or {}
    roles = {**builtins, **cfg.roles}
    if name not in roles:
        known = ", ".join(sorted(roles)) or "none defined"
        raise UsageError(
            f"unknown role {name!r} (roles: {known})",
            hint=did_you_mean(name, roles) or f'add [roles] {name} = "…" to {cfg.path}',
        )
    role, base = roles[name], builtins.get(name)
    if base is not None and role.system is None:
        return replace(role, system=base.system)
    return role


def _system(flags: Flags, role: Role | None, sources: dict[str, str]) -> str | None:
    """-s wins over the role's prompt, as every flag wins over the role."""
    if flags.system is not None:
        sources["system"] = f"{FLAG} --system"
        return flags.system
    if role is not None and role.system is not None:
        sources["system"] = f"role {flags.role}"
        return role.system
    return None


def _tools(flags: Flags, role: Role | None) -> tuple[str, ...]:
    """-T names, then the ones the role offers (`tools = ["weather"]`), each once."""
    return tuple(dict.fromkeys([*flags.tools, *(role.tools if role is not None else [])]))


def _setting(
    param: params.Param,
    flags: Flags,
    role: Role | None,
    environ: Mapping[str, str],
    cfg: FileConfig,
    sources: dict[str, str],
) -> Any:
    """One setting: the first layer that has it, checked by the table."""
    layers: list[tuple[str, Any]] = [(f"{FLAG} {param.flag}", getattr(flags, param.name))]
    if param.name == "model" and role is not None:
        layers.append((f"role {flags.role}", role.model))
    if param.env:
        layers.append((f"env {param.env}", environ.get(param.env)))
    layers += [(CONFIG, cfg.settings.get(param.name)), (DEFAULT, param.default)]
    for source, value in layers:
        if param.name == "model" and isinstance(value, str):
            value = _model_name(value, source)
        if value is None or value == "":
            continue
        sources[param.name] = source
        if source == DEFAULT:
            return value
        # Config values were checked when the file was read; flags and env are checked here.
        label = param.flag if source.startswith(FLAG) else source
        return params.check(param.name, value, source=label)
    return None


def _model_name(value: str, source: str) -> str:
    """A model name without the spaces around it: `-m " openai/gpt-4-0613"` as typed
    would miss the retirement feed and the catalogue, and be sent so. A blank one given
    on purpose (`-m ""`, `-m "$UNSET"`, a role's) is refused; an empty variable is unset."""
    name = value.strip()
    if name or (value == "" and not source.startswith(FLAG)):
        return name
    where = "-m/--model" if source.startswith(FLAG) else source
    raise UsageError(f"{where} needs a model name (got {value!r})", hint="see: aimlchat models")


def _body(
    flags: Flags, role: Role | None, cfg: FileConfig, sources: dict[str, str]
) -> dict[str, Any]:
    """Body fields: [params], [body], the role's params, flags, then -o (last wins)."""
    body: dict[str, Any] = {}

    def put(key: str, value: Any, source: str) -> None:
        body[key] = value
        sources[f"params.{key}"] = source

    for key, value in cfg.params.items():
        put(key, value, f"{CONFIG} [params]")
    for key, value in cfg.body.items():
        put(key, value, f"{CONFIG} [body]")
    if role is not None:
        for key, value in role.params.items():
            put(key, value, f"role {flags.role}")
    for key, value in flags.params.items():
        if value is not None and value is not False and value != []:
            put(key, params.check(key, value), f"{FLAG} {params.flag(key)}")
    for item in flags.extra:
        key, value = parse.parse_option(item)
        put(key, value, f"{FLAG} -o {key}")

    def label(name: str) -> str:
        source = sources.get(f"params.{name}", "")
        if source.startswith(FLAG) or not source:
            return params.flag(name)
        return f"{name} ({source})"

    params.check_together(body, label)
    return body
