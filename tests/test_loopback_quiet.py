"""The loopback server stays quiet when a client goes away mid-reply (what many tests do
on purpose), and still reports any other failure of its own."""

from __future__ import annotations

import json
import socket
import struct

from tests.loopback import LoopbackServer, Reply, sse_reply


def test_a_client_that_resets_a_kept_alive_connection_prints_no_traceback(
    server: LoopbackServer, capfd
):
    server.push(Reply(events=sse_reply(["done"]), mode="chunked"))
    body = json.dumps({"model": "m", "stream": True, "messages": []}).encode()
    host, port = server.server_address[:2]
    sock = socket.create_connection((str(host), int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    seen = b""
    while not seen.endswith(b"0\r\n\r\n"):  # the whole reply; the server waits for more
        seen += sock.recv(4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # linger 0: a reset, as the kernel of a killed client sends
    assert server.client_gone.wait(15)
    assert server.dropped == 1
    assert "Traceback" not in capfd.readouterr().err


def test_any_other_failure_in_the_server_is_still_printed(server: LoopbackServer, capfd):
    try:
        raise ValueError("a bug in the loopback server")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    err = capfd.readouterr().err
    assert "ValueError: a bug in the loopback server" in err
