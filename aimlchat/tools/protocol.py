"""The one Tool protocol: what the tool loop, consent and the listings know of a tool.

Three providers implement it: `[tools.NAME]` commands (tools.commands), the built-ins
(tools.builtins) and MCP servers (tools.mcp.provider). Nothing above this module asks
which provider a tool comes from: it reads the fields below and calls `run`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from aimlchat.record import record

Schema = dict[str, Any]

# What a tool may hand back when the window is not known: the fit to the window
# (chat.fit) cannot cut it later, so this is the only bound.
UNKNOWN_WINDOW_CAP = 256 * 1024
MIN_CAP = 4 * 1024  # even a full window reads a few lines of an error
MAX_CAP = 8 * 1024 * 1024
BYTES_PER_TOKEN = 6  # generous: chat.fit cuts to the exact room afterwards


# How a provider says it stopped reading (`[output cut at 256 KB of 4.9 MB]`, `[file cut
# at …]`), on the result's last line: the loop tells the user, the window's fit keeps it.
_CUT_NOTE = re.compile(r"\n\[((?:output|file) cut at [^\]\n]+)\]\Z")


def cut_note(text: str) -> re.Match[str] | None:
    """The provider's note that it cut `text`, if it did: group 1 is `output cut at …`."""
    return _CUT_NOTE.search(text)


class Status(str, Enum):
    OK = "ok"
    FAILED = "failed"  # non-zero exit status or a signal; an MCP isError result
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    DECLINED = "declined"
    ERROR = "error"  # unknown tool, bad arguments, cannot start, refused path, server gone


@record(frozen=True)
class RunContext:
    """What a call runs with. `output_cap`: bytes of output worth reading, from what the
    model's window has left (`output_cap_for`)."""

    cwd: Path
    environ: Mapping[str, str] | None = None  # None: os.environ
    output_cap: int = UNKNOWN_WINDOW_CAP


def output_cap_for(room_tokens: int | None) -> int:
    """Bytes a tool's output may take when `room_tokens` tokens are left for it (None:
    the window is unknown). Past this a tool's output is read and dropped, so a tool
    printing gigabytes costs neither memory nor the model's view."""
    if room_tokens is None:
        return UNKNOWN_WINDOW_CAP
    return max(MIN_CAP, min(MAX_CAP, room_tokens * BYTES_PER_TOKEN))


class Tool(Protocol):
    """One tool the model may be offered."""

    @property
    def name(self) -> str:
        """As the model knows it: unique, `^[A-Za-z0-9_-]{1,64}$` (every API accepts it)."""
        ...

    @property
    def label(self) -> str:
        """As people know it: `weather`, `read_file`, `aiml.search` (server.tool)."""
        ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> Schema: ...

    @property
    def kind(self) -> str:
        """`built-in`, `command` or `mcp`: for listings only."""
        ...

    @property
    def asks(self) -> bool:
        """Does a call ask the user first? False when config allows it (`confirm = false`,
        `allow`, `trusted`); `--yes` is the consent's own."""
        ...

    def runs(self) -> str:
        """What runs a call, in one short line: the argv, `built-in`, `MCP server aiml`."""
        ...

    def allow_hint(self) -> str:
        """How to let it run without asking, for the line that says it was not run."""
        ...

    def run(self, args: dict[str, Any], ctx: RunContext) -> tuple[Status, str]:
        """Run one call (consent already given): its status and the text for the model.
        Never raises for the tool's or the model's faults; a KeyboardInterrupt (or
        SIGTERM's exception) propagates once whatever it started is stopped."""
        ...

    def close(self) -> None:
        """Let go of what the tool holds (an MCP server's session); safe to call twice."""
        ...
