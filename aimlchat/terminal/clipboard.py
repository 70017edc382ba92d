"""Copy text to the clipboard: OSC 52 (works over SSH, in tmux with set-clipboard on) and,
when this machine has a display, its own tool too (wl-copy, xclip, xsel, pbcopy, clip), since
many local terminals ignore OSC 52."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Mapping

from aimlchat.osplatform import clipboard_tool
from aimlchat.terminal.output import Output

OSC52_LIMIT = 100_000  # bytes of base64 many terminals accept in one sequence


def copy(text: str, out: Output, environ: Mapping[str, str]) -> list[str]:
    """Copy `text`; return how (e.g. ["OSC 52", "wl-copy"]); empty if no way was found."""
    ways: list[str] = []
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if out.is_terminal and len(payload) <= OSC52_LIMIT:
        out.control(f"\x1b]52;c;{payload}\x07")
        ways.append("OSC 52")
    tool = clipboard_tool(environ)
    if tool is not None:
        argv, encoding = tool
        try:
            # No pipes on stdout/stderr: wl-copy and xclip fork a child that keeps serving
            # the selection, and holds any pipe open; `run` would wait for it to close.
            subprocess.run(
                argv,
                input=text.encode(encoding),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=5,
            )
            ways.append(argv[0])
        except (OSError, subprocess.SubprocessError):
            pass
    return ways
