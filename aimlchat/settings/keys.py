"""Where the API key comes from: env, then the key file, then a password-manager command."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

from aimlchat.errors import ConfigError, redact
from aimlchat.fsutil import atomic_write
from aimlchat.settings.config import ENV_KEY, FileConfig, Paths

KEY_COMMAND_TIMEOUT = 30.0


def resolve_key(environ: Mapping[str, str], paths: Paths, cfg: FileConfig) -> str | None:
    key = environ.get(ENV_KEY, "").strip()
    if not key:
        key = read_key_file(paths.key_file) or ""
    if not key and cfg.api_key_command:
        key = run_key_command(cfg.api_key_command)
    if not key and cfg.api_key:
        key = cfg.api_key.strip()
    redact.add(key)
    return key or None


def read_key_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc}") from None


def run_key_command(command: str) -> str:
    """Run `api_key_command` (no shell; write `sh -c '…'` for pipes) and take its stdout."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"api_key_command cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError("api_key_command is empty")
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=KEY_COMMAND_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ConfigError(f"api_key_command: {argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"api_key_command took longer than {KEY_COMMAND_TIMEOUT:g}s") from None
    except OSError as exc:
        raise ConfigError(f"api_key_command failed: {exc}") from None
    key = done.stdout.strip()
    if done.returncode != 0 or not key:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise ConfigError(f"api_key_command gave no key: {redact(why)[:200]}")
    return key


def save_key(path: Path, key: str) -> None:
    key = key.strip()
    if not key:
        raise ConfigError("empty key; nothing saved")
    if any(c.isspace() for c in key):
        raise ConfigError("the key contains whitespace; nothing saved")
    atomic_write(path, (key + "\n").encode("utf-8"))


def remove_key(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
