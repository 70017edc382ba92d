"""`aimlchat cmd`: the built-in instruction for one shell command, and reading it back."""

from __future__ import annotations

import os
import platform
import re
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


def command_from(reply: str) -> str:
    """The one command in a reply, even when the model wrapped it in a fence or a `$ `.

    What goes to `| sh` must be a command and nothing else: a reply with several code
    blocks, or prose with no fence, is refused rather than guessed at.
    """
    fenced = code_blocks(reply)
    blocks = [b for b in fenced if b.content.strip()]
    if len({b.content.strip() for b in blocks}) > 1:
        raise _no_single_command(f"it holds {len(blocks)} code blocks")
    text = blocks[0].content if blocks else "" if fenced else reply
    lines = [line.rstrip() for line in text.strip().splitlines()]
    lines = [line[2:] if line.startswith("$ ") else line for line in lines if line.strip()]
    if not lines:
        raise ApiError("the model gave no command", hint="ask again, in other words")
    if not fenced:
        if any(not line.endswith(_CONTINUED) for line in lines[:-1]):
            raise _no_single_command("it is several lines of text with no code block")
        if _PROSE.match(lines[0]):
            raise _no_single_command("it reads as prose")
    return "\n".join(lines)


# How a bare reply may go on to a next line and still be one command.
_CONTINUED = ("\\", "|", "&&", "||")
# A sentence: a capitalised word, then words, then a full stop, colon, ! or ?.
_PROSE = re.compile(r"^[A-Z][a-z]+,? [^\n]*[.:!?]$")


def _no_single_command(why: str) -> ApiError:
    return ApiError(
        f"the model's reply holds no single command ({why}); nothing printed",
        hint="ask again, in other words",
    )
