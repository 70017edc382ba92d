"""The two read-only built-ins: `read_file` and `list_dir`, confined to the current directory.

The model chooses the path, and a file it reads is sent to a remote server, so every path
is resolved (symlinks followed) before it is used and must land inside the working
directory: `../x`, `/etc/passwd` and a link pointing out are all refused alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from aimlchat.errors import redact
from aimlchat.tools.protocol import RunContext, Status
from aimlchat.tools.spec import SpecTool
from aimlchat.words import plural

LIST_CAP = 1000
_SNIFF = 8192


class ToolFailure(Exception):
    """A built-in cannot do what was asked; the message becomes the tool's result."""


def human_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB" if size >= 1024 else plural(size, "byte")
    return f"{size / (1024 * 1024):.1f} MB"


def _path_arg(args: dict[str, Any], default: str | None = None) -> str:
    value = args.get("path", default)
    if not isinstance(value, str) or not value:
        raise ToolFailure("'path' must be a non-empty string")
    if "\0" in value:
        raise ToolFailure("'path' must not contain NUL")
    return value


def confine(path: str, root: Path) -> Path:
    """`path` resolved against `root`, or ToolFailure when it leads outside it."""
    base = root.resolve()
    try:
        target = (base / path).resolve(strict=True)
    except FileNotFoundError:
        # Refuse what is outside before saying what is missing: it must not be a probe.
        if not (base / path).resolve().is_relative_to(base):
            raise ToolFailure(_outside(path)) from None
        raise ToolFailure(f"no such file or directory: {path}") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise ToolFailure(f"cannot open {path}: {exc.__class__.__name__}") from None
    if not target.is_relative_to(base):
        raise ToolFailure(_outside(path))
    return target


def _outside(path: str) -> str:
    return f"refused: {path} is outside the current directory (only files under it can be read)"


def _open_regular(target: Path, shown: str) -> tuple[int, int]:
    # O_NONBLOCK: a FIFO must not hang the turn; O_NOFOLLOW: the path was just resolved,
    # so a link here now means it was swapped since.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise ToolFailure(f"cannot open {shown}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory (use list_dir)" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ToolFailure(f"cannot read {shown}: it is {kind}")
    return fd, info.st_size


def _decode(data: bytes, cut: bool, shown: str) -> str:
    if b"\0" in data[:_SNIFF]:
        raise ToolFailure(f"refused: {shown} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character split by the cap is not a sign of binary data.
        if cut and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        raise ToolFailure(f"refused: {shown} is not UTF-8 text") from None


def read_file(args: dict[str, Any], root: Path, cap: int) -> str:
    """The file's text, its first `cap` bytes (what the model's window has room for)."""
    shown = _path_arg(args)
    fd, size = _open_regular(confine(shown, root), shown)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(cap + 1)
    cut = len(data) > cap
    text = _decode(data[:cap], cut, shown)
    if cut:
        text = redact.cut(text)  # a key the cap cut in two must not go in part
        text += f"\n[file cut at {human_size(cap)} of {human_size(max(size, len(data)))}]"
    return text


def list_dir(args: dict[str, Any], root: Path, _cap: int) -> str:
    # Capped by entries (LIST_CAP), which the window's fit then cuts if it must.
    shown = _path_arg(args, ".")
    target = confine(shown, root)
    if not target.is_dir():
        raise ToolFailure(f"cannot list {shown}: not a directory")
    try:
        entries = sorted(os.scandir(target), key=lambda e: e.name)
    except OSError as exc:
        raise ToolFailure(f"cannot list {shown}: {exc.strerror}") from None
    lines = []
    for entry in entries[:LIST_CAP]:
        # is_dir(follow_symlinks=False): a link is shown as a link, not followed out.
        if entry.is_symlink():
            lines.append(f"{entry.name}@")
        elif entry.is_dir(follow_symlinks=False):
            lines.append(f"{entry.name}/")
        else:
            lines.append(entry.name)
    if len(entries) > LIST_CAP:
        lines.append(f"[listing cut at {LIST_CAP} of {len(entries)} entries]")
    return "\n".join(lines) if lines else "(empty directory)"


Runner = Callable[[dict[str, Any], Path, int], str]
BUILTIN_RUNNERS: dict[str, Runner] = {"read_file": read_file, "list_dir": list_dir}


class BuiltinTool(SpecTool):
    """The built-ins' provider: `read_file` and `list_dir` as `Tool`s."""

    kind: ClassVar[str] = "built-in"

    def runs(self) -> str:
        return "built-in"

    def run(self, args: dict[str, Any], ctx: RunContext) -> tuple[Status, str]:
        runner = BUILTIN_RUNNERS.get(self.spec.name)
        if runner is None:
            return Status.ERROR, f"error: {self.spec.name} has no command"
        try:
            return Status.OK, runner(args, ctx.cwd, ctx.output_cap)
        except ToolFailure as exc:
            return Status.ERROR, f"error: {exc}"
