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
        "Reply with exactly one fenced code block (```sh ... ```) holding the command and "
        "nothing else: no text before or after it, no leading $ prompt. Prefer one line; "
        "chain steps with && or pipes if needed. Prefer safe, widely available tools, and "
        "never add destructive flags the user did not ask for."
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


def command_from(
    reply: str, *, finish_reason: str | None = None, bare: bool = False, path: str | None = None
) -> str:
    r"""The one command in a reply: what the model marked as code, and nothing else.

    The content of exactly one closed fenced block (text around it is dropped), or the
    whole reply one inline code span. With `bare` (the terminal's menu, where the user
    sees the command before pressing e) a reply of one line (or lines joined by a
    trailing \, |, && or ||) whose first word a shell would run is offered too: a
    builtin or keyword, a wrapper such as sudo, a path, a NAME=value prefix (then the
    next word counts), or an executable on `path` (the user's PATH). A reply cut off
    (finish_reason length, or a fence never closed) is never a command. Anything else
    raises NoCommand: no rule tells prose from a command, so a pipe gets only fenced code.
    """
    if finish_reason in _CUT_OFF:
        raise NoCommand(_CUT_OFF[finish_reason], hint="raise --max-tokens, or ask again")
    if not reply.strip():
        raise NoCommand()
    blocks = code_blocks(reply)
    if any(not block.closed for block in blocks):
        raise NoCommand("the reply was cut off: a code fence is never closed", hint="ask again")
    if len(blocks) > 1:
        why = f"the model's reply is not one fenced command (it holds {len(blocks)} code blocks)"
        raise NoCommand(why, hint=_SEE_IT if not bare else "ask again, in other words")
    if blocks:
        return _lines_of(blocks[0].content)
    span = _inside_span(reply.strip())
    if span is not None:
        return _lines_of(span)
    if not bare:
        raise NoCommand("the model's reply is not one fenced command", hint=_SEE_IT)
    return _bare_command(reply, path)


def _bare_command(reply: str, path: str | None) -> str:
    """One line (or continued lines) whose first word a shell would run; else NoCommand."""
    command = _lines_of(reply)
    lines = command.split("\n")
    if any(not line.endswith(_CONTINUED) for line in lines[:-1]):
        raise NoCommand(_prose("it is several lines of text with no code block"))
    if lines[-1].endswith(_CONTINUED):  # `ls &&`: the rest is missing
        raise NoCommand(_prose("it ends in the middle of a command"))
    for before, line in zip(["", *lines], lines, strict=False):
        if before.endswith("\\"):  # the same words go on; after |, && or || a command starts
            continue
        word = _first_word(line)
        if word is not None and not _shell_runs(word, path):
            shown = f'"{word[:24]}"' if word.isprintable() else "its first word"
            raise NoCommand(_prose(f"it reads as prose: {shown} is not a command"))
    return command


def _inside_span(text: str) -> str | None:
    """`ls -la` → ls -la when one code span is the whole text; else None."""
    span = _SPAN.match(text)
    if span is None:
        return None
    code, ticks = span.group("code"), span.group("ticks")
    if re.search(f"(?<!`){ticks}(?!`)", code):  # `ls` and `pwd`: two spans, not one
        return None
    return code.strip()


def _prose(why: str) -> str:
    return f"the model's reply holds no single command ({why})"


class NoCommand(ApiError):
    """The reply holds no command to print or offer; `summary` says why, without
    "nothing printed"."""

    def __init__(
        self, summary: str = "the model gave no command", *, hint: str = "ask again, in other words"
    ) -> None:
        self.summary = summary
        super().__init__(f"{summary}; nothing printed", hint=hint)


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


_CUT_OFF = {
    "length": "the reply was cut off at the token limit",
    "content_filter": "the provider's content filter stopped the reply",
}
_SEE_IT = "run it on a terminal to see the reply, or `aimlchat ask` for an explanation"
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
