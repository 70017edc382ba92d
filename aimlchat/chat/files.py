"""`-f/--file`: files, folders, globs, URLs and stdin turned into context for the message.

Text goes into the user message as fenced blocks headed by their path (the fence is
longer than any backtick run inside, so a file holding Markdown cannot break out);
images go the `-a` way, as image parts. Every limit is checked before anything is sent.

A folder or a glob sends what git would list (hidden files and what git ignores left out);
a file named exactly is sent whatever the ignore rules say: naming it is consent. FIFOs,
sockets and devices are never opened (opening a FIFO blocks until someone writes).
"""

from __future__ import annotations

import glob
import itertools
import os
import shlex
import stat
from collections.abc import Callable, Iterator
from dataclasses import field
from pathlib import Path

from aimlchat.api.pages import is_text, media_type
from aimlchat.chat.attach import image_part, sniff_mime
from aimlchat.chat.gitignore import kept, listed
from aimlchat.errors import UsageError
from aimlchat.fsutil import read_capped
from aimlchat.messages import Image
from aimlchat.record import record
from aimlchat.utf8 import decode_utf8

MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 8 * 1024 * 1024  # the same budget as stdin
MAX_FOLDER_FILES = 2000  # files one folder given to -f may hold (after ignores)
SNIFF_BYTES = 8192
LANGS = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".rs": "rust", ".go": "go",
    ".sh": "sh", ".bash": "bash", ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java",
    ".rb": "ruby", ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".html": "html", ".css": "css", ".sql": "sql", ".txt": "",
}  # fmt: skip

Fetch = Callable[[str], tuple[bytes, str]]  # url -> (body, content type)


@record()
class FileContext:
    """What `-f` adds to a message: text blocks, image parts, and what was skipped."""

    blocks: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # binary files met inside a folder walk
    not_utf8: list[str] = field(default_factory=list)  # text files in another encoding, too
    special: list[str] = field(default_factory=list)  # FIFOs, sockets, devices: never opened
    total: int = 0

    def text(self) -> str:
        return "\n\n".join(self.blocks)


def fenced(label: str, text: str, lang: str = "") -> str:
    """`label`, then `text` in a fence no backtick run inside can close."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{label}\n{fence}{lang}\n{body}{fence}"


def is_url(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))


def collect(
    specs: list[str],
    *,
    cwd: Path,
    read_stdin: Callable[[], bytes] | None = None,
    fetch: Fetch | None = None,
    image_detail: str | None = None,
) -> FileContext:
    ctx = FileContext()
    for spec in specs:
        if spec == "-":
            if read_stdin is None:
                raise UsageError("-f - needs something on stdin")
            _add_data(ctx, "stdin", read_stdin(), image_detail, explicit=True)
        elif is_url(spec):
            if fetch is None:
                raise UsageError(f"cannot fetch {spec} here")
            _add_url(ctx, spec, fetch)
        else:
            for path, explicit in _expand(spec, cwd):
                _add_path(ctx, path, _label(path, cwd), image_detail, explicit=explicit)
    return ctx


def _label(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def _expand(spec: str, cwd: Path) -> Iterator[tuple[Path, bool]]:
    """(path, named explicitly) for a file, a folder walk or a glob."""
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else cwd / path
    if path.is_dir():
        # listed lazily and counted before any is read: `-f ~` stops early, not after
        # walking the whole tree or reading thousands of binaries it would skip
        children = list(itertools.islice(walk(path), MAX_FOLDER_FILES + 1))
        if len(children) > MAX_FOLDER_FILES:
            raise UsageError(
                f"{spec}: more than {MAX_FOLDER_FILES} files in this folder; nothing sent",
                hint="name a narrower folder, or a glob",
            )
        if not children:
            raise UsageError(
                f"{spec}: no files to send in this folder",
                hint="hidden files and what git ignores are left out",
            )
        for child in children:
            yield child, False
        return
    if path.exists() or not glob.has_magic(spec):
        yield path, True
        return
    for match in _glob(spec, cwd):
        yield match, False


def _glob(spec: str, cwd: Path) -> list[Path]:
    """The files `spec` matches that a walk of its folder (the part before the first
    wildcard) would list: hidden ones and what git ignores left out."""
    parts = Path(spec).expanduser().parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = Path(os.path.abspath(cwd.joinpath(*parts[:fixed])))
    # the fixed part is escaped: a folder named "a[1]" is no pattern
    pattern = os.path.join(glob.escape(str(base)), *parts[fixed:])
    matches = [Path(os.path.normpath(m)) for m in sorted(glob.glob(pattern, recursive=True))]
    # folders are walked by no glob; a dangling link is no file; and as in a walk, no
    # symlink is followed (a `*.txt` must not send what a link points at elsewhere)
    matches = [m for m in matches if m.exists() and not m.is_dir() and not _linked(m, base)]
    if not matches:
        raise UsageError(f"{spec}: no file matches")
    base = Path(os.path.commonpath([base, *matches]))  # a ".." after a wildcard climbs
    files = kept(base, matches)
    if not files:
        raise UsageError(
            f"{spec}: matched only ignored files; nothing sent",
            hint="a glob leaves out hidden files and what git ignores; "
            "name a file exactly to send it",
        )
    return files


def _linked(path: Path, base: Path) -> bool:
    """Whether `path`, or a folder between `base` and it, is a symlink."""
    while path != base and path != path.parent:
        if path.is_symlink():
            return True
        path = path.parent
    return False


def walk(root: Path) -> Iterator[Path]:
    """Files under `root`, sorted, skipping hidden ones, `.git`, symlinks and what git
    ignores (every .gitignore from the repository root down, .git/info/exclude)."""
    for rel in listed(root):
        path = root / rel
        if not path.is_symlink():
            yield path


def _add_path(
    ctx: FileContext, path: Path, label: str, detail: str | None, *, explicit: bool
) -> None:
    kind = _special(path)
    if kind is not None:
        if explicit:
            fifo = "FIFO" in kind
            raise UsageError(
                f"{label} is {kind}, not a regular file; nothing sent",
                hint="to send what a pipe carries, pipe it to -f -" if fifo else None,
            )
        ctx.special.append(label)
        return
    data = read_capped(path, label=label, limit=MAX_FILE_BYTES, kind="files")
    _add_data(ctx, label, data, detail, explicit=explicit, lang=LANGS.get(path.suffix.lower()))


def _special(path: Path) -> str | None:
    """What a FIFO, socket or device is, told from its mode alone (never opened)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # read_capped says what is wrong
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def _add_data(
    ctx: FileContext,
    label: str,
    data: bytes,
    detail: str | None,
    *,
    explicit: bool,
    lang: str | None = None,
) -> None:
    if sniff_mime(data) is not None:
        if explicit:  # an image named on purpose goes the -a way
            ctx.images.append(image_part("-", detail=detail, read_stdin=lambda: data))
        else:
            ctx.skipped.append(label)
        return
    if _binary(data):
        if explicit:
            raise UsageError(f"{label} is a binary file; only text files can be sent")
        ctx.skipped.append(label)
        return
    try:
        text = decode_utf8(label, data, convert="" if label == "stdin" else shlex.quote(label))
    except UsageError:
        if explicit:  # Latin-1 text, say: which byte, and how to convert it
            raise
        ctx.not_utf8.append(label)
        return
    _count(ctx, len(data))
    ctx.blocks.append(fenced(label, text, lang or ""))


def _count(ctx: FileContext, size: int) -> None:
    ctx.total += size
    if ctx.total > MAX_TOTAL_BYTES:
        raise UsageError(
            f"the files add up to more than {MAX_TOTAL_BYTES // 1024 // 1024} MB; nothing sent",
            hint="name fewer files, or a narrower glob",
        )


def _binary(data: bytes) -> bool:
    return b"\x00" in data[:SNIFF_BYTES]


def _text(data: bytes) -> str | None:
    if _binary(data):
        return None
    try:
        return decode_utf8("", data)
    except UsageError:
        return None


def _add_url(ctx: FileContext, url: str, fetch: Fetch) -> None:
    body, ctype = fetch(url)
    kind = media_type(ctype)
    if kind.startswith("image/"):
        ctx.images.append(image_part(url))
        return
    if not is_text(ctype):
        raise UsageError(f"{url} is {kind}; only text pages can be sent")
    text = _text(body)
    if text is None:
        raise UsageError(f"{url} is not UTF-8 text")
    if "html" in kind:
        from aimlchat.chat.html_text import html_to_text

        text = html_to_text(text)
    _count(ctx, len(text.encode()))
    ctx.blocks.append(fenced(url, text))
