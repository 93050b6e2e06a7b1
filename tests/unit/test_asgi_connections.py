"""ASGI keep-alive connections kept on the worker's loop between requests.

Runs in: the test process.  The tests drive ``asgi_connections`` on a local
loop over a socketpair, with a recorder standing in for the worker's bound
``_engine.Engine`` (the tests against a real server are in
tests/integration/test_asgi_connections.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import pytest
from helpers.items import build_record
from helpers.settings import worker_settings

from subserve import _engine
from subserve.asgi import connections as asgi_connections
from subserve.asgi import server as asgi
from subserve.handoff import item as record

GET = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


class FakeEngine:
    """Records the verbs a connection is handed back with; parses what a kept
    connection read, like the engine."""

    draining = False

    def __init__(self) -> None:
        self.drain_event = os.eventfd(0)
        self.calls: list[tuple] = []

    def drain_fd(self) -> int:
        return self.drain_event

    def close_connection(self, fd: int) -> None:
        self.calls.append(("close_connection", fd))

    def park(self, fd: int) -> None:
        self.calls.append(("park", fd))

    def next_request(self, fd: int, leftover: bytes):
        self.calls.append(("next_request", fd, leftover))
        if not leftover:
            return None
        parsed = _engine.parse_head(leftover)
        if not isinstance(parsed, tuple):
            return None  # partial or bad: the real engine would take it over
        head_len, method, target, _minor, flags, length, fields = parsed
        head = build_record(method, target, ("127.0.0.1", 1), ("127.0.0.1", 2), fields)
        return (fd, flags, length, head, leftover[head_len:])


@pytest.fixture
def fake():
    engine = FakeEngine()
    yield engine
    os.close(engine.drain_event)


def first_item(fd: int) -> tuple[int, int, int, bytes, bytes]:
    head = build_record(b"GET", b"/hello", ("127.0.0.1", 1), ("127.0.0.1", 2), [(b"host", b"x")])
    return (fd, record.HTTP11 | record.KEEP_ALIVE, -1, head, b"")


def run_with_connections(engine: FakeEngine, body, keep_alive: float = 5.0) -> None:
    """Run ``body(conns, client, server_fd)`` on a fresh loop and Connections."""

    async def main() -> None:
        server = asgi.HTTPServer(hello, worker_settings(keepalive=keep_alive), engine=engine,
                                 access_log=None, error_log=asgi.logging.getLogger("test"),
                                 state={})
        conns = asgi_connections.Connections(server)
        a, b = socket.socketpair()
        b.settimeout(5)
        try:
            await body(conns, b, a.fileno())
        finally:
            conns.close()
            a.close()
            b.close()

    asyncio.run(main())


async def response(client: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"hello"):
        await asyncio.sleep(0.001)
        with contextlib.suppress(BlockingIOError):
            data += client.recv(65536, socket.MSG_DONTWAIT)
    return data


def test_next_request_is_read_on_the_loop(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        assert (await response(client)).startswith(b"HTTP/1.1 200 OK")
        assert fd in conns.kept and not conns.kept[fd].busy and fake.calls == []
        for _ in range(3):
            client.sendall(GET)
            assert (await response(client)).endswith(b"hello")
        # each request read here went to the engine's parser, and the
        # connection stayed kept
        assert fake.calls == [("next_request", fd, GET)] * 3
        assert fd in conns.kept

    run_with_connections(fake, body)


def test_kept_connection_goes_back_after_sticky_requests(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        for _ in range(asgi_connections.STICKY_REQUESTS - 1):
            client.sendall(GET)
            await response(client)
        # the last of the run went back to the engine to be rebalanced
        assert fake.calls[-1] == ("park", fd)
        assert fd not in conns.kept
        assert len(fake.calls) == asgi_connections.STICKY_REQUESTS

    run_with_connections(fake, body)


def test_idle_kept_connection_is_closed_after_keep_alive(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        await asyncio.sleep(0.1)
        assert fd in conns.kept  # not yet
        await asyncio.sleep(0.4)
        assert fd not in conns.kept and fake.calls == [("close_connection", fd)]

    run_with_connections(fake, body, keep_alive=0.3)


def test_client_closing_a_kept_connection_releases_it(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        client.shutdown(socket.SHUT_WR)
        for _ in range(200):
            await asyncio.sleep(0.005)
            if fake.calls:
                break
        assert fake.calls == [("close_connection", fd)] and fd not in conns.kept

    run_with_connections(fake, body)


def test_drain_hands_idle_connections_back_and_keeps_no_more(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        os.eventfd_write(fake.drain_event, 1)
        await asyncio.sleep(0.05)
        assert conns.stopping and fd not in conns.kept
        # parked, not closed: the draining engine lets it deliver a request in flight
        assert fake.calls == [("park", fd)]
        conns.serve(first_item(fd))  # a request already on its way is served...
        await response(client)
        assert fake.calls[-1] == ("park", fd)  # ...and goes straight back
        assert fd not in conns.kept

    run_with_connections(fake, body)
