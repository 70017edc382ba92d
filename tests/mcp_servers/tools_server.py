"""An MCP server built with the official SDK (MCPServer, once FastMCP), for the client's tests.

Run as a script: `tools_server.py stdio` or `tools_server.py http PORT`. The environment
steers it: MCP_TEST_MARKS names a folder where the sleeping tool leaves `cancelled` when
its call is cancelled (`started` when it begins), and the HTTP app logs each request to
`requests.log` (`METHOD session-id protocol-version`); MCP_TEST_TOKEN makes the HTTP app
answer 401 without that bearer token; MCP_TEST_CRASH_AT_START makes it die before
serving; MCP_TEST_PAGE_SIZE pages tools/list; MCP_TEST_PID_FILE names a file it writes its
pid to; MCP_TEST_SECRET is a token the crash tool echoes on stderr as it dies;
MCP_TEST_ODD_DESCRIPTION adds a tool `odd` described so (control characters too).
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _marks() -> Path | None:
    folder = os.environ.get("MCP_TEST_MARKS")
    return Path(folder) if folder else None


class PagedServer(MCPServer[Any]):
    """MCPServer never pages tools/list; this one does when MCP_TEST_PAGE_SIZE is set, so the
    client's cursor handling meets the SDK's own ListToolsResult and cursor fields."""

    async def _handle_list_tools(self, ctx: Any, params: Any) -> Any:
        result = await super()._handle_list_tools(ctx, params)
        size = int(os.environ.get("MCP_TEST_PAGE_SIZE") or 0)
        if not size:
            return result
        start = int(params.cursor) if params is not None and params.cursor else 0
        page = result.tools[start : start + size]
        more = start + size < len(result.tools)
        return type(result)(tools=page, next_cursor=str(start + size) if more else None)


server = PagedServer("test-tools")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then say so; leaves marks when it starts and when it is cancelled."""
    marks = _marks()
    if marks is not None:
        (marks / "started").write_text("started")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if marks is not None:
            (marks / "cancelled").write_text("cancelled")
        raise
    return "slept"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message (an isError result)."""
    raise ToolError(message)


@server.tool()
def picture() -> Image:
    """A tiny PNG."""
    return Image(data=PNG, format="png")


@server.tool()
def child() -> int:
    """Starts a long-lived child in the server's process group; returns its pid."""
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid


@server.tool()
def crash() -> str:
    """Kills the server mid-call."""
    print("crash: the server is going down", file=sys.stderr, flush=True)
    if secret := os.environ.get("MCP_TEST_SECRET"):  # a server that echoes its token
        print(f"crash: my token was {secret}", file=sys.stderr, flush=True)
    os._exit(3)


def _http_app() -> Any:
    app = server.streamable_http_app()
    token = os.environ.get("MCP_TEST_TOKEN")
    marks = _marks()

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if marks is not None:
                session = headers.get("mcp-session-id", "-")
                version = headers.get("mcp-protocol-version", "-")
                line = f"{scope['method']} {session} {version}\n"
                with open(marks / "requests.log", "a") as log:
                    log.write(line)
            if token and headers.get("authorization") != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return wrapped


def odd() -> str:
    """A tool whose description the environment gives (MCP_TEST_ODD_DESCRIPTION)."""
    return "odd"


def main(argv: list[str]) -> None:
    pid_file = os.environ.get("MCP_TEST_PID_FILE")
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    description = os.environ.get("MCP_TEST_ODD_DESCRIPTION")
    if description:
        server.add_tool(odd, description=description)
    if os.environ.get("MCP_TEST_CRASH_AT_START"):
        print("fatal: no such database 'nowhere.db'", file=sys.stderr, flush=True)
        sys.exit(2)
    if argv[0] == "stdio":
        server.run()
        return
    import uvicorn

    uvicorn.run(_http_app(), host="127.0.0.1", port=int(argv[1]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
