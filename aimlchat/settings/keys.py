"""Where the API key comes from: env, then the key file, then a password-manager command."""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from aimlchat.errors import ConfigError, redact
from aimlchat.fsutil import atomic_write
from aimlchat.settings.config import ENV_KEY, FileConfig, Paths

KEY_COMMAND_TIMEOUT = 30.0


def resolve_key(environ: Mapping[str, str], paths: Paths, cfg: FileConfig) -> str | None:
    """The key, from the first source that has one; refused (ConfigError, the key never
    shown) when it is not one clean token, since it goes into an HTTP header."""
    key = environ.get(ENV_KEY, "").strip()
    source = ENV_KEY
    if not key:
        key, source = read_key_file(paths.key_file) or "", f"the key file {paths.key_file}"
    if not key and cfg.api_key_command:
        key, source = run_key_command(cfg.api_key_command), "api_key_command's first line"
    if not key and cfg.api_key:
        key, source = cfg.api_key.strip(), "api_key in config.toml"
    redact.add(key)
    if key and (problem := key_problem(key)):
        raise ConfigError(f"{source} contains {problem}; it must be the key alone")
    return key or None


def key_problem(key: str) -> str | None:
    """What makes `key` unfit for an Authorization header, or None. Never quotes it."""
    if any(c in "\r\n" for c in key):
        return "a line break"
    if any(c.isspace() for c in key):
        return "whitespace"
    if any(unicodedata.category(c) == "Cc" for c in key):
        return "a control character"
    if not key.isascii():
        return "a character that is not ASCII"
    return None


def read_key_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc}") from None


def run_key_command(command: str) -> str:
    """Run `api_key_command` (no shell; write `sh -c '…'` for pipes) and take the first
    line of its stdout: `pass` and most password tools print the password there and
    metadata (login, url) below it."""
    try:
        import shlex  # only a configured api_key_command needs it

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
    key = done.stdout.strip().split("\n", 1)[0].strip()
    if done.returncode != 0 or not key:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise ConfigError(f"api_key_command gave no key: {redact(why)[:200]}")
    return key


def save_key(path: Path, key: str) -> None:
    key = key.strip()
    if not key:
        raise ConfigError("empty key; nothing saved")
    if problem := key_problem(key):
        raise ConfigError(f"the key contains {problem}; nothing saved")
    atomic_write(path, (key + "\n").encode("utf-8"))


def remove_key(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
