"""`aimlchat cmd`: the built-in instruction for one shell command, and reading it back."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path

from aimlchat.chat.extract import code_blocks

CMD_ROLE = "cmd"


def system_prompt(environ: Mapping[str, str], cwd: Path) -> str:
    shell = environ.get("SHELL") or "/bin/sh"
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
    """The command in a reply, even when the model wrapped it in a fence or a `$ `."""
    blocks = code_blocks(reply)
    text = blocks[0].content if blocks else reply
    lines = [line.rstrip() for line in text.strip().splitlines()]
    lines = [line[2:] if line.startswith("$ ") else line for line in lines if line.strip()]
    return "\n".join(lines)
