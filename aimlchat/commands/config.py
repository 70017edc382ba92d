"""`aimlchat config show | edit`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aimlchat.errors import AimlchatError, ConfigError
from aimlchat.fsutil import atomic_write, private_dir
from aimlchat.settings import config, params
from aimlchat.settings.config import FileConfig, Paths
from aimlchat.settings.resolve import Flags, Settings, resolve
from aimlchat.settings.secrets import MASK, masked
from aimlchat.terminal.columns import columns
from aimlchat.terminal.editor import edit_file
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.notify import Notifier
from aimlchat.terminal.output import Output
from aimlchat.words import plural

TEMPLATE = """\
# aimlchat configuration (TOML). Flags and environment variables win over this file.
# model = "meta-llama/llama-4-scout"
# base_url = "https://api.aimlapi.com/v1"
# connect_timeout = 10   # seconds to connect
# timeout = 60           # seconds for the answer to begin (then not retried: it may be billed)
# idle_timeout = 60      # seconds of silence once the answer has begun (default: timeout)
# retries = 2
# code_theme = "monokai"
# api_key_command = "pass show aimlapi"   # its stdout is the key; no shell

[params]   # checked parameters, as the flags: temperature, top_p, max_tokens, stop, seed, …
# temperature = 0.7

[body]     # any other request field, sent as written
# user = "me"

[roles]
# shell = "Answer with a single POSIX shell command and nothing else."
# [roles.poet]
# system = "Answer in verse."
# model = "meta-llama/llama-4-scout"
# params = { temperature = 1.2 }
"""


def key_source(environ: Mapping[str, str], paths: Paths, cfg: FileConfig) -> str:
    """Where the key would come from, without running api_key_command."""
    if environ.get(config.ENV_KEY, "").strip():
        return f"env {config.ENV_KEY}"
    if paths.key_file.exists():
        return f"key file {paths.key_file}"
    if cfg.api_key_command:
        return "config.toml api_key_command"
    if cfg.api_key:
        return "config.toml api_key"
    return "none"


def _effective(env: Environment, cfg: FileConfig, problems: list[str]) -> Settings:
    """What a plain `ask` would use; a bad environment value is reported, then skipped."""
    flags = Flags(allow_insecure=True)  # show any base URL; `ask` judges plain http itself
    try:
        return resolve(flags, env.environ, cfg)
    except AimlchatError as exc:
        problems.append(exc.message)
        return resolve(flags, {}, cfg)


def _rows(settings: Settings, key_from: str, paths: Paths, cfg: FileConfig) -> list[list[Any]]:
    """[name, value, source] for each effective setting, secrets masked."""
    rows: list[list[Any]] = [
        [p.name, getattr(settings, p.name), settings.sources.get(p.name, "default")]
        for p in params.TABLE
        if p.config_key == p.name
    ]
    rows.append(["api_key", MASK if key_from != "none" else None, key_from])
    for name, value in settings.params.items():
        source = settings.sources[f"params.{name}"]
        table = "body" if source.endswith("[body]") else "params"  # named as in the file
        rows.append([f"{table}.{name}", masked(name, value), source])
    if cfg.roles:
        rows.append(["roles", sorted(cfg.roles), "config.toml"])
    for name, tool in sorted(cfg.tools.items()):  # what a model may be offered to run
        command = list(tool.command) if tool.command is not None else "(built-in)"
        rows.append([f"tools.{name}", command, "config.toml"])
    for name, server in sorted(cfg.mcp.items()):  # what it starts or reaches: no secrets
        from aimlchat.tools.mcp.config import shown_url

        where = list(server.command) if server.command is not None else shown_url(server.url or "")
        rows.append([f"mcp.{name}", where, "config.toml"])
    for model, entry in sorted(cfg.models.items()):  # `[models."ID"]`, as in the file
        for key in ("api", "context_length"):
            if getattr(entry, key) is not None:
                rows.append([f'models."{model}".{key}', getattr(entry, key), "config.toml"])
    for name in ("config_file", "key_file", "data_dir", "cache_dir"):
        path = getattr(paths, name)
        rows.append([name, str(path), "exists" if path.exists() else "missing"])
    for name, path in _remembered(paths):
        rows.append([name, str(path), "exists" if path.exists() else "missing"])
    return rows


def _remembered(paths: Paths) -> list[tuple[str, Path]]:
    """What servers taught earlier runs (aimlchat.remembered), in the cache folder: the
    API a model answers on, the context window a server stated."""
    from aimlchat.api.route import FILE_NAME
    from aimlchat.commands.tooling import WINDOWS_FILE

    return [
        ("remembered_apis", paths.cache_dir / FILE_NAME),
        ("remembered_windows", paths.cache_dir / WINDOWS_FILE),
    ]


def show_config(paths: Paths, env: Environment, *, as_json: bool = False) -> None:
    """The effective settings and their sources; a broken file is shown, then exit 3."""
    cfg = config.load_file(paths.config_file)
    problems = list(cfg.errors)
    settings = _effective(env, cfg, problems)
    rows = _rows(settings, key_source(env.environ, paths, cfg), paths, cfg)
    out = Output(env)
    if as_json:
        doc = {
            "settings": {name: {"value": value, "source": src} for name, value, src in rows},
            "warnings": cfg.warnings,
            "errors": problems,
        }
        out.data(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        cells = [[name, _cell(name, value), src] for name, value, src in rows]
        out.data(columns(["SETTING", "VALUE", "SOURCE"], cells, aligned=out.is_terminal))
    notifier = Notifier(env)
    list_problems(notifier, cfg)
    for problem in problems[len(cfg.errors) :]:  # the environment's
        notifier.error(problem)
    if cfg.errors:
        raise ConfigError(f"{cfg.path}: {_tally(cfg)}, listed above", hint=FIX)
    if problems:
        raise ConfigError(f"the environment: {plural(len(problems), 'error')}, listed above")


FIX = "fix it with: aimlchat config edit"


def _tally(cfg: FileConfig) -> str:
    """`2 errors and 1 warning`: what is wrong with the file, in a few words."""
    said = [plural(len(cfg.errors), "error")] if cfg.errors else []
    said += [plural(len(cfg.warnings), "warning")] if cfg.warnings else []
    return " and ".join(said)


def list_problems(notifier: Notifier, cfg: FileConfig) -> None:
    """Every warning and every error of config.toml, one line each."""
    for warning in cfg.warnings:
        notifier.warn(warning)
    for error in cfg.errors:
        notifier.error(f"config.toml: {error}")


def _cell(name: str, value: Any) -> str:
    if name.startswith(("params.", "body.")):  # as it is sent: JSON
        return json.dumps(value, ensure_ascii=False)
    if name.startswith(("tools.", "mcp.")) and isinstance(value, list):
        return shlex.join(value)
    if name == "roles":
        return ", ".join(value)
    return "(none)" if value is None else str(value)


def edit_config(paths: Paths, env: Environment) -> None:
    path = paths.config_file
    private_dir(path.parent)
    if not path.exists():
        atomic_write(path, TEMPLATE.encode("utf-8"))
    edit_file(env.environ, path)
    cfg = config.load_file(path)
    notifier = Notifier(env)
    list_problems(notifier, cfg)
    if cfg.errors:  # saved as written; every other command refuses it until it is fixed
        raise ConfigError(f"{path}: {_tally(cfg)}, listed above", hint=FIX)
    warned = f", with {plural(len(cfg.warnings), 'warning')} (listed above)" if cfg.warnings else ""
    notifier.info(f"{path} is valid{warned}")
