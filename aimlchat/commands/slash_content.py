"""Slash commands that move content in and out: attachments, the editor, the clipboard."""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import tempfile

from aimlchat.chat.attach import image_part
from aimlchat.commands.repl_core import ReplCore
from aimlchat.errors import AimlchatError, UsageError


class ContentCommands(ReplCore):
    def cmd_copy(self, _: str) -> None:
        reply = self.chat.last_reply()
        if reply is None:
            raise AimlchatError("no reply to copy yet")
        if not self.app.out.is_terminal:
            raise AimlchatError("/copy needs a terminal")
        payload = base64.b64encode(reply.encode("utf-8")).decode("ascii")
        self.app.out.control(f"\x1b]52;c;{payload}\x07")
        self.app.notifier.info(f"copied {len(reply)} characters (OSC 52)")

    def cmd_image(self, spec: str) -> None:
        if not spec:
            raise UsageError("/image needs a PATH or URL")
        self.pending_images.append(image_part(spec, detail=self.app.opts.image_detail))
        self.app.notifier.info(f"image attached to the next message ({len(self.pending_images)})")

    def cmd_edit(self, _: str) -> None:
        text = edit_in_editor(
            self.app.env.environ.get("VISUAL") or self.app.env.environ.get("EDITOR") or "vi"
        )
        # Editors end the file with a newline the user never typed.
        text = text[:-1] if text.endswith("\n") else text
        if text.strip():
            self.write(f"› {text}\n")  # what is sent, as if typed at the prompt
            self.send(text)
        else:
            self.app.notifier.info("empty message; nothing sent")


def edit_in_editor(editor: str) -> str:
    fd, path = tempfile.mkstemp(prefix="aimlchat-", suffix=".md")
    os.close(fd)
    try:
        subprocess.run([*shlex.split(editor), path], check=False)
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise UsageError(f"editor not found: {editor}", hint="set $EDITOR") from None
    finally:
        os.unlink(path)
