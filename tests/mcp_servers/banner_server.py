"""A bare stdio MCP server (no SDK) that prints a banner on stdout, which the
specification forbids and some servers do anyway, then does what argv[1] says:
"hang" (reads its stdin and never answers), "exit" (exits once initialize comes, with a
line on stderr) or "work" (answers as a server should: initialize, tools/list, and a
tool `noop` that prints one more stray line before it answers). argv[2], if given, is
the banner; MCP_TEST_BANNER_LINES its count (default 1)."""

from __future__ import annotations

import json
import os
import sys


def reply(ident: object, result: dict[str, object]) -> None:
    print(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}), flush=True)


def main() -> None:
    mode = sys.argv[1]
    banner = sys.argv[2] if len(sys.argv) > 2 else "Hello I am a server banner, not JSON"
    for _ in range(int(os.environ.get("MCP_TEST_BANNER_LINES", "1"))):
        print(banner, flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        method = msg.get("method")
        if mode == "hang":
            continue
        if mode == "exit":
            print("giving up", file=sys.stderr, flush=True)
            sys.exit(1)
        if method == "initialize":
            info = {"name": "banner", "version": "1"}
            version = msg["params"]["protocolVersion"]
            reply(
                msg["id"],
                {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info},
            )
        elif method == "tools/list":
            reply(msg["id"], {"tools": [{"name": "noop", "inputSchema": {"type": "object"}}]})
        elif method == "tools/call":
            print("calling noop now", flush=True)
            reply(msg["id"], {"content": [{"type": "text", "text": "done"}]})
        elif "id" in msg:
            reply(msg["id"], {})


if __name__ == "__main__":
    main()
