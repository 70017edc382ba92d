"""A server whose certificate is refused: nothing was sent, so nothing may have been billed.

The handshake fails before the request leaves, so `ask` says so (exit 4) and `batch`
stops as for a server it cannot reach, recording nothing, instead of writing a
"may have been billed" error record for every item.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch_helpers import write_prompts
from tests.conftest import invoke

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """An https server on 127.0.0.1 with a certificate no one trusts; it counts the
    requests it gets past the handshake (none should)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    requests: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    if tls.recv(1):
                        requests.append(1)
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate: the expected end

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1", requests
    stop.set()
    thread.join()
    listener.close()


def test_ask_to_a_refused_certificate_says_so_and_sent_nothing(cli_env, self_signed):
    url, requests = self_signed
    r = invoke(["ask", "hi", "--no-stdin"], {**cli_env, "AIMLCHAT_BASE_URL": url})
    assert r.returncode == 4, r.stderr
    assert "certificate of 127.0.0.1" in r.stderr and "billed" not in r.stderr
    assert "retrying" not in r.stderr  # the same certificate would come back
    assert requests == []


def test_batch_to_a_refused_certificate_stops_and_records_nothing(cli_env, self_signed, tmp_path):
    url, requests = self_signed
    src, out = write_prompts(tmp_path / "in.jsonl", 4), tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out)], {**cli_env, "AIMLCHAT_BASE_URL": url})
    assert r.returncode == 4, r.stderr
    assert "billed" not in r.stderr
    assert out.read_text() == ""
    assert requests == []
