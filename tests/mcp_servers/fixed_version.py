"""A bare stdio MCP server (no SDK) that answers initialize with the protocol version in
argv[1] whatever was offered, and records the offered one on stderr: the negotiation
cases the SDK's own server never produces."""

from __future__ import annotations

import json
import sys


def main() -> None:
    version = sys.argv[1]
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("method") == "initialize":
            print(f"offered {msg['params']['protocolVersion']}", file=sys.stderr, flush=True)
            result = {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fixed", "version": "1"},
            }
        elif msg.get("method") == "tools/list":
            result = {"tools": [{"name": "noop", "inputSchema": {"type": "object"}}]}
        elif "id" in msg:
            result = {}
        else:
            continue
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)


if __name__ == "__main__":
    main()
