"""An MCP server's tool as a `Tool` (aimlchat.tools.protocol): what the tool loop runs.

The model knows it by a name unique in the run (names.model_name: `aiml__search`),
people by `server.tool`. A call goes to its server (server.Server), which starts on first
use; the result comes back as text for the model: an `isError` result as an error, a
timeout as one, and a server that dies as a one-line error naming it with the last lines
of its stderr — the turn goes on. A later call to a tool of a server that died says it
had stopped earlier, so the model takes the tool as unavailable, not as what broke it.
A Ctrl-C (or SIGTERM's exception) propagates once the session has told the server to
cancel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aimlchat.errors import ConfigError, redact
from aimlchat.tools.mcp.errors import McpError
from aimlchat.tools.protocol import RunContext, Schema, Status

if TYPE_CHECKING:
    from aimlchat.tools.mcp.config import ServerSpec
    from aimlchat.tools.mcp.content import CallResult
    from aimlchat.tools.mcp.session import McpTool

NOTHING = "(the tool returned nothing)"


class ToolServer(Protocol):
    """What a tool needs of its server (server.Server), named here so that the two
    modules do not import each other."""

    name: str
    spec: ServerSpec
    error: str | None

    def call(self, tool: str, args: dict[str, Any], timeout: float | None = None) -> CallResult: ...


class ServerTool:
    """One tool of one MCP server."""

    kind = "mcp"

    def __init__(self, server: ToolServer, tool: McpTool, name: str) -> None:
        self.server = server
        self.tool = tool
        self._name = name
        self._parameters = object_schema(tool.input_schema)

    @property
    def name(self) -> str:
        return self._name

    @property
    def label(self) -> str:
        return f"{self.server.name}.{self.tool.name}"

    @property
    def description(self) -> str:
        return self.tool.description

    @property
    def parameters(self) -> Schema:
        return self._parameters

    @property
    def asks(self) -> bool:
        spec = self.server.spec
        return not (spec.trusted or self.tool.name in spec.allow)

    def runs(self) -> str:
        return f"MCP server {self.server.name}"

    def allow_hint(self) -> str:
        return f'add "{self.tool.name}" to allow in [mcp.{self.server.name}], or set trusted = true'

    def run(self, args: dict[str, Any], ctx: RunContext) -> tuple[Status, str]:
        earlier = self.server.error  # it failed before this call: the call never ran
        try:
            result = self.server.call(self.tool.name, args)
        except (McpError, ConfigError) as exc:
            if earlier is not None:
                return Status.ERROR, f"error: {stopped_earlier(self.server.name, earlier)}"
            return Status.ERROR, f"error: {self.server.error or exc.message}"
        if result.timed_out:
            return Status.TIMED_OUT, f"error: {result.text}"
        if result.is_error:
            return Status.FAILED, "error: " + cut(result.text, ctx.output_cap)
        return Status.OK, cut(result.text, ctx.output_cap) if result.text else NOTHING

    def close(self) -> None:
        """Nothing per tool: the registry (server.Servers) closes the server."""


def stopped_earlier(server: str, error: str) -> str:
    """What a call to a server that had already failed tells the model: the tool is
    unavailable, and this call did not run (nor crash it)."""
    why = error.removeprefix(f"MCP server {server}").removeprefix(":").strip()
    return f"MCP server {server} had stopped earlier ({why}); this call did not run"


def object_schema(schema: dict[str, Any]) -> Schema:
    """The tool's inputSchema as every API takes it: an object with `properties` (some
    refuse a bare `{"type": "object"}`). Copied: the session's record stays as listed."""
    found = dict(schema)
    if found.get("type") != "object":
        found["type"] = "object"
    if not isinstance(found.get("properties"), dict):
        found["properties"] = {}
    return found


def cut(text: str, cap: int) -> str:
    """`text` within `cap` bytes of UTF-8, cut on a character boundary, with a note."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= cap:
        return text
    from aimlchat.tools.builtins import human_size

    kept = data[:cap].decode("utf-8", "ignore")  # a character cut in two is dropped
    kept = redact.cut(kept)
    size, total = human_size(len(kept.encode("utf-8", "surrogatepass"))), human_size(len(data))
    return f"{kept}\n[output cut at {size} of {total}]"
