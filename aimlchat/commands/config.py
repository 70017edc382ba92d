"""`aimlchat config show | edit`."""

from __future__ import annotations

import json
import shlex
import subprocess

from aimlchat.errors import ConfigError, UsageError
from aimlchat.fsutil import atomic_write, private_dir
from aimlchat.settings import config
from aimlchat.settings.config import Paths
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.notify import Notifier
from aimlchat.terminal.output import Output

TEMPLATE = """\
# aimlchat configuration (TOML). Flags and environment variables win over this file.
# model = "meta-llama/llama-4-scout"
# base_url = "https://api.aimlapi.com/v1"
# timeout = 60
# retries = 2
# code_theme = "monokai"
# api_key_command = "pass show aimlapi"   # its stdout is the key; no shell

[params]
# temperature = 0.7

[roles]
# shell = "Answer with a single POSIX shell command and nothing else."
"""


def show_config(paths: Paths, env: Environment) -> None:
    cfg = config.load_file(paths.config_file)
    out = {
        "config_file": str(paths.config_file),
        "exists": paths.config_file.exists(),
        "settings": config.redacted(cfg.raw),
        "key_file": str(paths.key_file),
        "key_file_exists": paths.key_file.exists(),
        "key_from_env": bool(env.environ.get(config.ENV_KEY)),
        "data_dir": str(paths.data_dir),
        "cache_dir": str(paths.cache_dir),
    }
    Output(env).data(json.dumps(out, indent=2) + "\n")


def edit_config(paths: Paths, env: Environment) -> None:
    path = paths.config_file
    private_dir(path.parent)
    if not path.exists():
        atomic_write(path, TEMPLATE.encode("utf-8"))
    editor = env.environ.get("VISUAL") or env.environ.get("EDITOR") or "vi"
    try:
        subprocess.run([*shlex.split(editor), str(path)], check=False)
    except FileNotFoundError:
        raise UsageError(f"editor not found: {editor}", hint="set $EDITOR") from None
    try:
        config.load_file(path)
    except ConfigError as exc:
        Notifier(env).warn(f"{exc.message}; fix it with: aimlchat config edit")
        return
    Notifier(env).info(f"{path} is valid")
