"""A request after a quiet spell goes on a fresh connection, never on a kept-alive one the
server (or a NAT) may have closed meanwhile: a POST that dies on a stale connection may
have been billed and is not sent again, so it must not be sent there in the first place.

The server here is a raw socket server, so that it can close a connection the way a
server whose keep-alive timer ran out does (a reset, as the next request arrives) or
forget it the way a NAT does (silence). The quiet spell is a clock the test moves."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aimlchat.api.adapters import ChatRequest
from aimlchat.api.client import Client
from aimlchat.errors import NetworkError
from aimlchat.messages import user
from tests.loopback import completion

ANSWER = "answer"  # read the request, answer it, keep the connection
RESET = "reset"  # keep-alive ran out: the next request is met with a reset, unread
SILENT = "silent"  # a NAT forgot the connection: the next request is never read
DROP = "drop"  # read the request, then close without answering


class KeepAliveServer:
    """HTTP/1.1 on 127.0.0.1: connection N plays `plans[N]`, one step per request
    (then answers); counts the connections accepted and the requests read."""

    def __init__(self, *plans: list[str]) -> None:
        self.plans = list(plans)
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self._open: list[socket.socket] = []
        self.before_answer: Callable[[], None] = lambda: None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop_listening(self) -> None:
        """From now on a new connection is refused; the open ones stay as they are."""
        self._listener.shutdown(socket.SHUT_RDWR)  # close() alone would not stop accept()
        self._listener.close()

    def stop(self) -> None:
        for sock in [self._listener, *self._open]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            plan = self.plans[self.connections] if self.connections < len(self.plans) else []
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn, plan), daemon=True).start()

    def _serve(self, conn: socket.socket, plan: list[str]) -> None:
        reader = conn.makefile("rb")
        with contextlib.suppress(OSError, ValueError):
            for step in [*plan, *[ANSWER] * 10]:
                if step == SILENT:
                    return  # the socket stays open and unread until stop()
                if step == RESET:
                    conn.recv(1, socket.MSG_PEEK)  # the next request (or the client's FIN)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    return
                if not self._read_request(reader):
                    return
                if step == DROP:
                    conn.close()
                    return
                self.before_answer()
                body = json.dumps(completion("ok")).encode()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
                )
                conn.sendall(head.encode() + body)

    def _read_request(self, reader: Any) -> bool:
        line = reader.readline()
        if not line:
            return False
        length = 0
        while (header := reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.requests.append({"line": line.decode().strip(), "body": reader.read(length)})
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@contextlib.contextmanager
def serve(*plans: list[str]) -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer(*plans)
    yield srv
    srv.stop()


def client_for(
    srv: KeepAliveServer, clock: Clock, *, retries: int = 2, notices: list[Any] | None = None
) -> Client:
    return Client(
        base_url=srv.base_url,
        api_key="k",
        timeout=2,
        retries=retries,
        notice=(notices if notices is not None else []).append,
        clock=clock,
        fresh_after=4.0,
    )


BODY = ChatRequest("m", (user("hi"),), stream=False)


@pytest.mark.parametrize("closed", [RESET, SILENT], ids=["server-reset", "nat-forgot"])
def test_a_post_after_a_quiet_spell_goes_on_a_fresh_connection(clock, closed):
    with serve([ANSWER, closed]) as srv:
        client = client_for(srv, clock)
        assert client.complete(BODY).text() == "ok"
        clock.now += 30  # the user reads the answer, thinks, types
        assert client.complete(BODY).text() == "ok"
        assert len(srv.requests) == 2 and srv.connections == 2


def test_quick_consecutive_requests_share_one_connection(clock):
    with serve([ANSWER, ANSWER, ANSWER]) as srv:
        client = client_for(srv, clock)
        for _ in range(3):
            assert client.complete(BODY).text() == "ok"
            clock.now += 3.9  # a tool loop, a batch: within the limit
        assert len(srv.requests) == 3 and srv.connections == 1


def test_the_quiet_spell_counts_from_the_end_of_the_last_answer(clock):
    with serve([ANSWER, ANSWER]) as srv:
        client = client_for(srv, clock)

        def think() -> None:  # a long answer: the time it takes is not quiet time
            clock.now += 30

        srv.before_answer = think
        assert client.complete(BODY).text() == "ok"
        srv.before_answer = lambda: None
        clock.now += 1
        assert client.complete(BODY).text() == "ok"
        assert srv.connections == 1


def test_a_fresh_connection_dropped_after_the_request_is_not_sent_again(clock):
    with serve([ANSWER], [DROP]) as srv:
        client = client_for(srv, clock)
        client.complete(BODY)
        clock.now += 30
        with pytest.raises(NetworkError) as caught:
            client.complete(BODY)
        assert not caught.value.unsent and "may have been billed" in caught.value.message
        assert len(srv.requests) == 2 and srv.connections == 2  # the second one sent once


def test_a_fresh_connection_that_cannot_be_made_is_retried(clock):
    notices: list[Any] = []
    with serve([ANSWER, SILENT]) as srv:
        client = client_for(srv, clock, retries=1, notices=notices)
        client.complete(BODY)
        srv.stop_listening()  # a new connection is refused
        clock.now += 30
        with pytest.raises(NetworkError) as caught:
            client.complete(BODY)
        assert caught.value.unsent and len(notices) == 1  # retried once, as --retries 1 says
        assert len(srv.requests) == 1
