"""A bare Streamable HTTP MCP server (no SDK) that misbehaves on demand, in-process.

The SDK's server is the reference for what goes right; this one produces what the
client must survive: a redirect, an answer's stream closed before the answer (with a
priming event id to resume from, or without), a GET it will not serve, a session it
forgets, notifications and a DELETE it never answers. It records every request it gets
(method, headers, JSON-RPC message) in `seen`.

Attributes steer it: `redirect_to` (a URL: every request is answered 307 to it);
`call` for tools/call: "json" (the answer), "prime" (an SSE stream with a priming event
`id: e1` and `retry:`, closed before the answer, which a GET with `Last-Event-ID: e1`
then gets), "prime-forever" (every stream, resumed ones too, primes again and closes),
"no-id" (an SSE stream closed with no id and no answer), "hang" (no answer until
`release` is set), "expire" (404, as to a session it does not know), "busy-once" (429
to the first call), "cut" (primed, then the stream cut inside an event's data);
`get_status` (what a GET is answered when not 200);
`hang_notifications` and `hang_delete` (no answer to notifications/cancelled or DELETE
until `release`). `forget()` drops every session.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aimlchat.record import record

VERSION = "2025-11-25"


@record(frozen=True)
class Seen:
    method: str
    headers: dict[str, str]
    message: dict[str, Any] | None = None


class RawMcpServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.redirect_to: str | None = None
        self.call = "json"
        self.get_status = 200
        self.retry_ms = 10
        self.hang_notifications = False
        self.hang_delete = False
        self.busy_initialize = False  # 429 to initialize
        self.release = threading.Event()
        self.sessions: set[str] = set()
        self.owed: dict[str, bytes] = {}  # a priming event id -> the answer owed after it
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/mcp"

    def forget(self) -> None:
        self.sessions.clear()

    def methods(self) -> list[str]:
        """What it was sent, in order: JSON-RPC methods (`-` for our answers), GET, DELETE."""
        return [
            (s.message.get("method", "-") if s.message is not None else s.method) for s in self.seen
        ]

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_id(self) -> int:
        with self._lock:
            self._count += 1
            return self._count


def _handler(srv: RawMcpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            msg = json.loads(self.rfile.read(length))
            srv.seen.append(Seen("POST", dict(self.headers), msg))
            if self._redirected() or self._unknown_session(msg):
                return
            if "id" not in msg or "method" not in msg:  # a notification, or our answer
                if srv.hang_notifications and msg.get("method") == "notifications/cancelled":
                    srv.release.wait()
                self._reply(202)
                return
            method = msg["method"]
            if method == "initialize" and srv.busy_initialize:
                self._reply(429)
            elif method == "initialize":
                sid = f"session-{srv.next_id()}"
                srv.sessions.add(sid)
                result = {
                    "protocolVersion": VERSION,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "raw", "version": "1"},
                }
                self._json(msg["id"], result, sid)
            elif method == "tools/list":
                tool = {"name": "t", "description": "d", "inputSchema": {"type": "object"}}
                self._json(msg["id"], {"tools": [tool]})
            elif method == "tools/call":
                self._call(msg)
            else:
                self._json(msg["id"], {})

        def do_GET(self) -> None:
            srv.seen.append(Seen("GET", dict(self.headers)))
            if self._redirected() or self._unknown_session(None):
                return
            if srv.get_status != 200:
                self._reply(srv.get_status)
                return
            last = self.headers.get("Last-Event-ID") or ""
            if srv.call == "prime-forever":
                self._stream(f"id: {last}\nretry: {srv.retry_ms}\ndata:\n\n".encode())
                return
            owed = srv.owed.pop(last, None)
            self._stream(b"id: e2\ndata: " + owed + b"\n\n" if owed else b"")

        def do_DELETE(self) -> None:
            srv.seen.append(Seen("DELETE", dict(self.headers)))
            if srv.hang_delete:
                srv.release.wait()
            self._reply(200)

        def _call(self, msg: dict[str, Any]) -> None:
            answer = {"content": [{"type": "text", "text": "ok"}]}
            params = {"level": "info", "data": "working"}
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": params}
            if srv.call == "json":
                self._json(msg["id"], answer)
            elif srv.call == "expire":
                self._reply(404)
            elif srv.call == "busy-once":  # 429 to the first call, answers after that
                srv.call = "json"
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif srv.call == "hang":
                srv.release.wait()
            elif srv.call in ("prime", "prime-forever"):
                owed = {"jsonrpc": "2.0", "id": msg["id"], "result": answer}
                srv.owed["e1"] = json.dumps(owed).encode()
                body = f"data: {json.dumps(note)}\n\nid: e1\nretry: {srv.retry_ms}\ndata:\n\n"
                self._stream(body.encode())
            elif srv.call == "cut":  # primed, then cut inside the next event's data line
                owed = {"jsonrpc": "2.0", "id": msg["id"], "result": answer}
                srv.owed["e1"] = json.dumps(owed).encode()
                body = f"id: e1\nretry: 10\ndata:\n\ndata: {json.dumps(note)[:20]}"
                self._stream(body.encode())
            elif srv.call == "no-id":
                self._stream(f"data: {json.dumps(note)}\n\n".encode())

        def _redirected(self) -> bool:
            if srv.redirect_to is None:
                return False
            self.send_response(307)
            self.send_header("Location", srv.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True

        def _unknown_session(self, msg: dict[str, Any] | None) -> bool:
            if msg is not None and msg.get("method") == "initialize":
                return False
            if self.headers.get("Mcp-Session-Id") in srv.sessions:
                return False
            self._reply(404)
            return True

        def _reply(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _json(self, ident: Any, result: dict[str, Any], sid: str | None = None) -> None:
            body = json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if sid is not None:
                self.send_header("Mcp-Session-Id", sid)
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, body: bytes) -> None:
            """An SSE stream that ends (the connection closes) after `body`."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    return Handler
