"""`aimlchat cmd`: the built-in instruction for one shell command, and reading it back."""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from aimlchat import osplatform
from aimlchat.chat.extract import code_blocks
from aimlchat.errors import ApiError

CMD_ROLE = "cmd"


def system_prompt(environ: Mapping[str, str], cwd: Path) -> str:
    shell = osplatform.shell(environ)
    return (
        "You turn the user's request into exactly one shell command.\n"
        f"Operating system: {_os_name()}. Shell: {shell} ({Path(shell).name}). "
        f"Current directory: {cwd}.\n"
        "Reply with the command only: no explanation, no Markdown, no code fences, no "
        "leading $ prompt. Use one line; chain steps with && or pipes if needed. Prefer "
        "safe, widely available tools, and never add destructive flags the user did not ask for."
    )


def describe_prompt(command: str) -> str:
    return f"Explain briefly what this command does, part by part:\n\n{command}"


def _os_name() -> str:
    system = platform.system() or os.name
    if system == "Linux":
        try:
            release = platform.freedesktop_os_release()
            return f"Linux ({release.get('PRETTY_NAME', release.get('NAME', 'unknown'))})"
        except OSError:
            return "Linux"
    if system == "Darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    return system


def command_from(reply: str, *, path: str | None = None) -> str:
    r"""The one command in a reply, by one rule for a pipe and a terminal alike.

    Exactly one fenced block gives its content (a short script is a command too). Else
    the reply, less one inline code span around the whole of it, must be one line (or
    lines joined by a trailing \, |, && or ||) whose first word a shell would run: a
    builtin or keyword, a wrapper such as sudo, a path, a NAME=value prefix (then the
    next word counts), or an executable on `path` (the user's PATH). Anything else
    raises NoCommand: what goes to `| sh` is a command, never prose guessed at.
    """
    fenced = code_blocks(reply)
    blocks = [b for b in fenced if b.content.strip()]
    if len({b.content.strip() for b in blocks}) > 1:
        raise NoCommand(f"it holds {len(blocks)} code blocks")
    if fenced:
        return _lines_of(blocks[0].content if blocks else "")
    command = _lines_of(_inside_span(reply.strip()))
    lines = command.split("\n")
    if any(not line.endswith(_CONTINUED) for line in lines[:-1]):
        raise NoCommand("it is several lines of text with no code block")
    word = _first_word(lines[0])
    if word is not None and not _shell_runs(word, path):
        shown = f'"{word[:24]}"' if word.isprintable() else "its first word"
        raise NoCommand(f"it reads as prose: {shown} is not a command")
    return command


def _inside_span(text: str) -> str:
    """`ls -la` → ls -la when one code span is the whole text; else the text as it is."""
    span = _SPAN.match(text)
    if span is None:
        return text
    code, ticks = span.group("code"), span.group("ticks")
    if re.search(f"(?<!`){ticks}(?!`)", code):  # `ls` and `pwd`: two spans, not one
        return text
    return code.strip()


class NoCommand(ApiError):
    """The reply holds no single command; `summary` says why, without "nothing printed"."""

    def __init__(self, why: str | None = None) -> None:
        self.summary = (
            f"the model's reply holds no single command ({why})"
            if why
            else "the model gave no command"
        )
        super().__init__(f"{self.summary}; nothing printed", hint="ask again, in other words")


def _lines_of(text: str) -> str:
    """The text's non-blank lines, each without a leading `$ ` prompt; NoCommand if none."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    lines = [line[2:] if line.startswith("$ ") else line for line in lines if line.strip()]
    if not lines:
        raise NoCommand()
    return "\n".join(lines)


def _first_word(line: str) -> str | None:
    """The word a shell would run first: past NAME=value prefixes and an opening `(`.
    None when the line is assignments only (`PATH=/opt/bin:$PATH` is a command)."""
    try:
        words = shlex.split(line)
    except ValueError:  # an unclosed quote: "I can't" is no command either
        words = line.split()
    for word in words:
        if not _ASSIGNMENT.match(word):
            return word.lstrip("(") or word  # "(cd src && ls)" runs cd
    return None


def _shell_runs(word: str, path: str | None) -> bool:
    windows = osplatform.is_windows()
    if word in _SHELL_WORDS or (windows and word.lower() in _CMD_EXE_WORDS):
        return True
    if _EXPANSION.match(word) or word.startswith(("/", "./", "../", "~/")):
        return True  # $EDITOR, or a path: the shell will find out
    if "/" in word or (windows and "\\" in word):
        return os.path.isfile(word)  # scripts/build.sh, but not "I/O"
    found = shutil.which(word, path=path)
    if found is None:
        return False
    if windows:
        return True  # names are case-blind there, and found with an added .exe
    # On a case-blind disk (macOS) which("Open") finds open: the case must be the word's.
    try:
        return word in os.listdir(os.path.dirname(found))
    except OSError:
        return True


# How a bare reply may go on to a next line and still be one command.
_CONTINUED = ("\\", "|", "&&", "||")
# The whole reply one inline code span: `ls -la`, or ``echo `date` `` with a longer fence.
_SPAN = re.compile(r"^(?P<ticks>`+)(?!`)(?P<code>[^\n]+?)(?<!`)(?P=ticks)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
_EXPANSION = re.compile(r"^\$[A-Za-z_{(]")
# POSIX and bash/zsh/fish builtins and keywords, and wrappers that run the next word
# (sudo may be missing here yet is still a command the user means to run).
_SHELL_WORDS_TEXT = """
    ! [ [[ { ( (( . : alias autoload bg bind break builtin caffeinate case cd chdir command
    compgen complete continue coproc declare dirs disown doas echo enable env eval exec exit
    export false fc fg for function getopts hash if ionice jobs kill let local mapfile nice
    nohup popd printf pushd pwd read readarray readonly return select set setopt shift shopt
    source stdbuf sudo suspend test time timeout times trap true type typeset ulimit umask
    unalias unset until wait watch while xargs
"""
_SHELL_WORDS = frozenset(_SHELL_WORDS_TEXT.split())
_CMD_EXE_WORDS_TEXT = (
    "assoc call cd cls copy del dir echo erase md mkdir mklink move rd ren rename rmdir set "
    "start type ver where"
)
_CMD_EXE_WORDS = frozenset(_CMD_EXE_WORDS_TEXT.split())
