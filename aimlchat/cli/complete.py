"""Shell completion from what is already on disk, in milliseconds: no network, no requests.

`-m` offers the chat models of the cached catalogue (the cache of the base URL that the
command line, the environment or config.toml names; `aimlchat models` fills it), ids and
aliases, with the model's name as the help zsh and fish show. And completing after the
default command (`aimlchat -m <TAB>`) completes `aimlchat ask -m <TAB>`, as running that
command line would.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, MutableMapping
from typing import Any

# What Click's shells put in the environment: bash the words and the cursor's index;
# zsh, fish and PowerShell the command line up to the cursor.
BASH_WORDS, BASH_CWORD = "COMP_WORDS", "COMP_CWORD"
LINE = "_TYPER_COMPLETE_ARGS"
LINE_WORD = "_TYPER_COMPLETE_WORD_TO_COMPLETE"  # PowerShell: the word being completed


def complete_model(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    """(id or alias, name) of the cached chat models that start with what is typed."""
    from aimlchat.api.catalog import cached_models
    from aimlchat.settings.config import Paths

    environ = _environ(ctx)
    base_url = _base_url(ctx, environ).rstrip("/")
    models = cached_models(Paths.from_env(environ).models_cache(base_url)) or []
    pairs = [(name, m.name) for m in models if m.is_chat for name in (m.id, *m.aliases)]
    return list(dict.fromkeys(p for p in pairs if p[0].startswith(incomplete)))


def complete_role(ctx: Any, incomplete: str) -> list[str]:
    """Role names for shell completion: config.toml's and the built-ins, nothing heavy."""
    from aimlchat.chat.roles import BUILTIN_NAMES
    from aimlchat.settings.config import Paths, load_file

    defined = load_file(Paths.from_env(_environ(ctx)).config_file).roles
    return [n for n in sorted({*BUILTIN_NAMES, *defined}) if n.startswith(incomplete)]


def _environ(ctx: Any) -> Mapping[str, str]:
    import os

    env = ctx.find_root().obj if ctx is not None else None
    environ: Mapping[str, str] | None = getattr(env, "environ", None)
    return environ if environ is not None else os.environ


def _base_url(ctx: Any, environ: Mapping[str, str]) -> str:
    """--base-url > AIMLCHAT_BASE_URL > config.toml > the default: the resolver's order."""
    from aimlchat.settings import params
    from aimlchat.settings.config import Paths, load_file

    given = ctx.params.get("base_url") if ctx is not None else None
    if given:
        return str(given)
    if environ.get(params.ENV_BASE_URL):
        return environ[params.ENV_BASE_URL]
    configured = load_file(Paths.from_env(environ).config_file).settings.get("base_url")
    return str(configured or params.DEFAULT_BASE_URL)


def _words(text: str) -> list[str]:
    import shlex

    try:
        return shlex.split(text)
    except ValueError:  # an open quote: the word being typed
        return text.split()


def complete_as_ask(
    environ: MutableMapping[str, str], commands: Collection[str], top_flags: Collection[str]
) -> None:
    """Rewrite the shell's completion variables so that `aimlchat ARG … <TAB>` completes
    `aimlchat ask ARG …` when ARG (already typed) is not a command or a top-level flag."""

    def is_ask(first: str) -> bool:
        return first not in commands and first not in top_flags

    if BASH_WORDS in environ and BASH_CWORD in environ:
        words = _words(environ[BASH_WORDS])
        cword = int(environ[BASH_CWORD] or 0)
        if cword >= 2 and len(words) >= 2 and is_ask(words[1]):
            environ[BASH_WORDS] = _insert_ask(environ[BASH_WORDS])
            environ[BASH_CWORD] = str(cword + 1)
    elif LINE in environ:
        line = environ[LINE]
        words = _words(line)
        typing = bool(environ.get(LINE_WORD)) or not line.endswith(" ")
        typed = words[1:-1] if typing else words[1:]  # the words already complete
        if typed and is_ask(typed[0]):
            environ[LINE] = _insert_ask(line)


def _insert_ask(line: str) -> str:
    """`aimlchat -m x` -> `aimlchat ask -m x`, keeping the separator the shell used."""
    found = re.search(r"\s+", line)
    if found is None:
        return line
    return f"{line[: found.start()]}{found.group()}ask{found.group()}{line[found.end() :]}"
