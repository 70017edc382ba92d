"""The user message of `ask` (and chat's first message): `-f` files, stdin, the prompt
and `-a` images, every limit checked before anything is sent.

The text is the files first (each a fenced block headed by its path), then stdin, then
the prompt: the question comes last, after what it is about, as people write it. Stdin
is read once: `-f -` makes it a fenced block like any file (and then it is not also the
text before the prompt), `-a -` makes it an image; asking for both is a usage error.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aimlchat.chat.conversation import STDIN_PLACEHOLDER, compose_prompt
from aimlchat.commands.runtime import App
from aimlchat.errors import UsageError
from aimlchat.messages import Image, Message, user
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.chat.files import FileContext

MAX_STDIN_BYTES = 8 * 1024 * 1024
SKIPPED_SHOWN = 5


def read_stdin_bytes(app: App) -> bytes:
    stream = getattr(app.env.stdin, "buffer", None)
    try:
        data = (
            stream.read(MAX_STDIN_BYTES + 1)
            if stream is not None
            else app.env.stdin.read(MAX_STDIN_BYTES + 1).encode("utf-8", "surrogateescape")
        )
    except OSError as exc:
        if exc.errno not in (errno.EBADF, errno.EINVAL):
            raise UsageError(f"cannot read stdin: {exc.strerror}") from None
        # A stdin open for writing only (`nohup` gives one) is no input, as a closed one is.
        return b""
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError(
            f"stdin is larger than the {MAX_STDIN_BYTES // (1024 * 1024)} MB limit; nothing sent",
            hint="send a smaller part, e.g. with head -c",
        )
    return data


def decode_stdin(data: bytes) -> str:
    from aimlchat.utf8 import decode_utf8

    return decode_utf8("stdin", data)


def fill_prompt(prompt: str, values: Mapping[str, str]) -> str:
    """`{{name}}` in the prompt, filled when `-v` is given (else the prompt is as typed)."""
    if not values:
        return prompt
    from aimlchat.chat.template import fill

    return fill(prompt, dict(values))


def gather_files(
    app: App, specs: list[str], *, read_stdin: Callable[[], bytes] | None = None
) -> FileContext:
    """`-f` specs collected (URLs fetched without the key); skipped binaries noted once."""
    from aimlchat.chat.files import FileContext, collect, is_url

    if not specs:
        return FileContext()
    # The chat's own client is made later: a page is fetched before anything is sent.
    fetch = app.client(need_key=False).fetch_text if any(is_url(s) for s in specs) else None
    found = collect(
        specs,
        cwd=working_dir(),
        read_stdin=read_stdin,
        fetch=fetch,
        image_detail=app.settings.image_detail,
    )
    _note_skipped(app, found.skipped, "binary file")
    _note_skipped(app, found.not_utf8, "file not in UTF-8", "files not in UTF-8")
    _note_skipped(app, found.special, "pipe, socket or device", "pipes, sockets or devices")
    return found


def _note_skipped(app: App, labels: list[str], kind: str, kinds: str | None = None) -> None:
    if labels:
        names = ", ".join(labels[:SKIPPED_SHOWN])
        more = f" and {len(labels) - SKIPPED_SHOWN} more" if len(labels) > SKIPPED_SHOWN else ""
        app.notifier.info(f"skipped {plural(len(labels), kind, kinds)}: {names}{more}")


def working_dir() -> Path:
    try:
        return Path.cwd()
    except OSError:
        raise UsageError("the current directory no longer exists") from None


ASK_EXAMPLE = 'aimlchat ask "Hello"'


def _check_stdin_use(app: App, *, no_stdin: bool) -> None:
    """`-f -` and `-a -` both want stdin, which can be read once."""
    file_stdin, image_stdin = "-" in app.opts.files, "-" in app.opts.attach
    if file_stdin and image_stdin:
        raise UsageError("stdin can be read once: use -f - or -a -, not both")
    if (file_stdin or image_stdin) and (no_stdin or app.env.stdin_tty):
        flag = "-f -" if file_stdin else "-a -"
        why = "--no-stdin is given" if no_stdin else "stdin is a terminal"
        raise UsageError(f"{flag} reads stdin, but {why}", hint=f"pipe something in: … | {flag}")


def build_message(
    app: App, prompt_words: list[str], *, no_stdin: bool = False, example: str = ASK_EXAMPLE
) -> Message:
    """The user message, or a UsageError naming what is wrong (its hint shows `example`,
    a command line); nothing is sent here."""
    _check_stdin_use(app, no_stdin=no_stdin)
    prompt = fill_prompt(" ".join(prompt_words).strip(), app.vars)
    stdin = None if no_stdin or app.env.stdin_tty else read_stdin_bytes(app)
    if stdin is None and not prompt and not app.opts.files:
        raise UsageError("no prompt", hint=f"try: {example}, or pipe the prompt in")
    as_file, as_image = "-" in app.opts.files, "-" in app.opts.attach
    if (as_file or as_image) and not stdin:
        raise UsageError(f"{'-f -' if as_file else '-a -'} found stdin empty")
    if as_file and STDIN_PLACEHOLDER in prompt:
        raise UsageError("-f - makes stdin a file block, so {stdin} has nothing to hold")
    files_text, file_images = "", []
    if app.opts.files:  # the file readers load only when files are named
        files = gather_files(app, app.opts.files, read_stdin=lambda: stdin or b"")
        files_text, file_images = files.text(), files.images
    stdin_text = None if as_file or as_image or not stdin else decode_stdin(stdin)
    return user(
        _text(files_text, prompt, stdin_text, example),
        [*file_images, *_images(app, stdin)],
    )


def _text(files: str, prompt: str, stdin_text: str | None, example: str) -> str:
    if not prompt and stdin_text is None:
        if not files.strip():
            raise UsageError("empty message", hint=f"give a prompt, e.g. {example}")
        return files
    asked = compose_prompt(prompt, stdin_text)
    return f"{files}\n\n{asked}" if files else asked


def _images(app: App, stdin: bytes | None) -> list[Image]:
    if not app.opts.attach:
        return []
    from aimlchat.chat.attach import image_part

    return [
        image_part(spec, detail=app.settings.image_detail, read_stdin=lambda: stdin or b"")
        for spec in app.opts.attach
    ]


def warn_text_only(app: App, model: str, message: Message) -> None:
    """Images for a model the cached catalogue says reads text only: one line, before
    sending (some servers drop them without a word)."""
    if not message.images:
        return
    from aimlchat.api.catalog import text_only

    if text_only(app.prices.models, model):
        app.notifier.warn(
            f"{model} takes no image input, says the catalogue; the image may be ignored "
            "(models that take images: aimlchat models --vision)"
        )
