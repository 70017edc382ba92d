"""Slash commands that move content in and out: attachments, the editor, the clipboard."""

from __future__ import annotations

import shlex
from typing import Any

from aimlchat.chat.attach import image_part
from aimlchat.commands.repl_core import ReplCore
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.words import plural


def file_context(app: App, specs: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """`-f`/`/file` specs as (image parts, fenced text blocks); every limit checked now.

    stdin is the REPL's terminal, so `-` is refused here (by `collect`, with a clear line).
    """
    from aimlchat.commands.message import gather_files

    found = gather_files(app, specs)
    return found.images, found.blocks


def counted(images: list[dict[str, Any]], blocks: list[str]) -> str:
    """ "2 files and 1 image": what an attachment brought."""
    parts = [plural(len(blocks), "file")] if blocks or not images else []
    return " and ".join(parts + ([plural(len(images), "image")] if images else []))


def _whole(reply: str) -> str:
    return f"the whole reply ({plural(len(reply.splitlines()), 'line')})"


def _pick(reply: str, arg: str) -> tuple[str, str]:
    """Code block `arg` (1-based) of the reply, and how to name it."""
    from aimlchat.chat.extract import code_blocks

    blocks = code_blocks(reply)
    if not blocks:
        raise UsageError("the last reply has no code blocks", hint="/copy copies the whole reply")
    if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
        span = "only 1" if len(blocks) == 1 else f"{len(blocks)}: /copy 1 to /copy {len(blocks)}"
        raise UsageError(f"no code block {arg}; the last reply has {span}")
    block = blocks[int(arg) - 1]
    lang = f"{block.lang}, " if block.lang else ""
    return (
        block.content,
        f"code block {arg} ({lang}{plural(block.content.count(chr(10)), 'line')})",
    )


class ContentCommands(ReplCore):
    def cmd_copy(self, arg: str) -> None:
        from aimlchat.terminal.clipboard import copy

        reply = self.chat.last_reply()
        if reply is None:
            raise AimlchatError("no reply to copy yet")
        text, what = _pick(reply, arg) if arg else (reply, _whole(reply))
        ways = copy(text, self.app.out, self.app.env.environ)
        if not ways:
            raise AimlchatError(
                "nothing to copy with: no terminal for OSC 52, and no wl-copy, xclip or pbcopy"
            )
        self.app.notifier.info(f"copied {what} via {' and '.join(ways)}")

    def cmd_image(self, spec: str) -> None:
        if not spec:
            raise UsageError("/image needs a PATH or URL")
        self.attach([image_part(spec, detail=self.app.settings.image_detail)], [])
        self.app.notifier.info(f"image attached to the next message ({len(self.pending_images)})")

    def cmd_file(self, rest: str) -> None:
        try:
            specs = shlex.split(rest)
        except ValueError as exc:
            raise UsageError(f"/file: {exc}") from None
        if not specs:
            raise UsageError("/file needs a PATH, DIR, GLOB or URL")
        images, blocks = file_context(self.app, specs)
        self.attach(images, blocks)
        self.app.notifier.info(f"{counted(images, blocks)} attached to the next message")

    def cmd_edit(self, _: str) -> None:
        from aimlchat.terminal.editor import edit_text

        text = edit_text(self.app.env.environ)
        # Editors end the file with a newline the user never typed.
        text = text[:-1] if text.endswith("\n") else text
        if text.strip():
            self.write(f"› {text}\n")  # what is sent, as if typed at the prompt
            self.send(text)
        else:
            self.app.notifier.info("empty message; nothing sent")
