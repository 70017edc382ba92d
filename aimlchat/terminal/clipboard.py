"""Copy text to the clipboard: OSC 52 (works over SSH, in tmux with set-clipboard on) and,
when this machine has a display, its own tool too (wl-copy, xclip, xsel, pbcopy), since
many local terminals ignore OSC 52."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Mapping

from aimlchat.terminal.output import Output

OSC52_LIMIT = 100_000  # bytes of base64 many terminals accept in one sequence


def _native(environ: Mapping[str, str]) -> list[str] | None:
    candidates: list[list[str]] = []
    if sys.platform == "darwin":
        candidates.append(["pbcopy"])
    if environ.get("WAYLAND_DISPLAY"):
        candidates.append(["wl-copy"])
    if environ.get("DISPLAY"):
        candidates += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    for argv in candidates:
        if shutil.which(argv[0]):
            return argv
    return None


def copy(text: str, out: Output, environ: Mapping[str, str]) -> list[str]:
    """Copy `text`; return how (e.g. ["OSC 52", "wl-copy"]); empty if no way was found."""
    ways: list[str] = []
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if out.is_terminal and len(payload) <= OSC52_LIMIT:
        out.control(f"\x1b]52;c;{payload}\x07")
        ways.append("OSC 52")
    argv = _native(environ)
    if argv is not None:
        try:
            # No pipes on stdout/stderr: wl-copy and xclip fork a child that keeps serving
            # the selection, and holds any pipe open; `run` would wait for it to close.
            subprocess.run(
                argv,
                input=text.encode("utf-8"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=5,
            )
            ways.append(argv[0])
        except (OSError, subprocess.SubprocessError):
            pass
    return ways
