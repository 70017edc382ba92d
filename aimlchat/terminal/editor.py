"""The user's editor ($VISUAL, else $EDITOR, else vi or notepad) on a file, or on a new message.

Every way it can fail is a one-line usage error: a variable shlex cannot split (an
unbalanced quote), an editor that is not there or cannot run, a message saved in an
encoding other than UTF-8.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aimlchat.errors import UsageError
from aimlchat.osplatform import default_editor

_HINT = "set $VISUAL or $EDITOR to a command, e.g. EDITOR=nano"


def editor_command(environ: Mapping[str, str]) -> list[str]:
    """The editor's argv, from $VISUAL, else $EDITOR (an empty one is not set), else the
    system's own (vi; notepad on Windows)."""
    for name in ("VISUAL", "EDITOR"):
        value = environ.get(name, "")
        if value.strip():
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise UsageError(f"cannot read ${name} ({value!r}): {exc}", hint=_HINT) from None
            if argv:
                return argv
    return [default_editor()]


def edit_file(environ: Mapping[str, str], path: Path) -> None:
    """Open `path` in the editor and wait for it to close."""
    argv = editor_command(environ)
    try:
        subprocess.run([*argv, str(path)], check=False)
    except FileNotFoundError:
        raise UsageError(f"editor not found: {argv[0]}", hint=_HINT) from None
    except OSError as exc:
        raise UsageError(f"cannot run the editor {argv[0]}: {exc.strerror or exc}") from None


def edit_text(environ: Mapping[str, str], suffix: str = ".md") -> str:
    """What the user writes in the editor, in a private temporary file removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="aimlchat-", suffix=suffix)
    os.close(fd)
    path = Path(name)
    try:
        edit_file(environ, path)
        data = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the edited text is not UTF-8 (byte {exc.start}); nothing was sent",
            hint="save the file as UTF-8",
        ) from None
