"""Slash commands that move content in and out: attachments, the editor, the clipboard."""

from __future__ import annotations

import shlex

from aimlchat.chat.attach import image_part
from aimlchat.commands.repl_core import ReplCore
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.messages import Image
from aimlchat.words import plural


def file_context(app: App, specs: list[str]) -> tuple[list[Image], list[str]]:
    """`-f`/`/file` specs as (image parts, fenced text blocks); every limit checked now.

    stdin is the REPL's terminal, so `-` is refused here (by `collect`, with a clear line).
    """
    from aimlchat.commands.message import gather_files

    found = gather_files(app, specs)
    return found.images, found.blocks


def counted(images: list[Image], blocks: list[str]) -> str:
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
            self._list_attachments()
            return
        if specs[0] == "rm":  # a file named rm: /file ./rm
            self._remove_attachments(specs[1:])
            return
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

    def attachments(self) -> list[str]:
        """What waits for the next message, as `/file` lists and numbers it."""
        return [b.split("\n", 1)[0] for b in self.pending_files] + [
            _image_label(part) for part in self.pending_images
        ]

    def _list_attachments(self) -> None:
        labels = self.attachments()
        if not labels:
            self.app.notifier.info("nothing attached; /file PATH attaches to the next message")
            return
        lines = [f"  {n}  {label}" for n, label in enumerate(labels, 1)]
        self.write("attached to the next message:\n" + "\n".join(lines) + "\n")

    def _remove_attachments(self, refs: list[str]) -> None:
        """`/file rm N|PATH|all`: a number as `/file` lists, a path (a folder: all under it)."""
        if not refs:
            raise UsageError("/file rm needs N, PATH or all (/file lists them)")
        labels = self.attachments()
        if refs == ["all"]:
            gone = set(range(len(labels)))
        else:
            gone = set()
            for ref in refs:  # check them all first: a typo removes nothing
                found = _matching(labels, ref)
                if not found:
                    raise UsageError(f"no attachment {ref}", hint="/file lists them")
                gone |= found
        files = len(self.pending_files)
        self.pending_files = [b for i, b in enumerate(self.pending_files) if i not in gone]
        self.pending_images = [
            p for i, p in enumerate(self.pending_images) if i + files not in gone
        ]
        names = ", ".join(labels[i] for i in sorted(gone)) or "nothing"
        self.app.notifier.info(
            f"removed {names}; {plural(len(self.attachments()), 'attachment')} left"
        )


def _matching(labels: list[str], ref: str) -> set[int]:
    if ref.isdigit():
        return {int(ref) - 1} if 1 <= int(ref) <= len(labels) else set()
    folder = ref.rstrip("/") + "/"
    return {i for i, label in enumerate(labels) if label == ref or label.startswith(folder)}


def _image_label(image: Image) -> str:
    url = image.url
    if not url.startswith("data:"):
        return f"image {url}"
    kind = url[5:].split(";", 1)[0] or "image"
    return f"{kind}, {max(1, len(url) * 3 // 4 // 1024)} KB"
