"""ASGI keep-alive connections kept on the worker's loop between requests.

Runs in: the test process.  The tests drive ``asgi_connections`` on a local
loop over a socketpair, with ``_engine`` replaced by a recorder (the tests
against a real server are in tests/integration/test_asgi_connections.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import types

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
    """Records release() calls; parses what a kept connection read, like the engine."""

    def __init__(self) -> None:
        self.drain_fd = os.eventfd(0)
        self.releases: list[tuple[int, bool, bytes]] = []

    def release(self, eid: int, fd: int, keep: bool, leftover: bytes):
        self.releases.append((fd, keep, leftover))
        if not keep or not leftover:
            return None
        parsed = _engine.parse_head(leftover)
        if not isinstance(parsed, tuple):
            return None  # partial or bad: the real engine would take it over
        head_len, method, target, _minor, flags, length, fields = parsed
        head = build_record(method, target, ("127.0.0.1", 1), ("127.0.0.1", 2), fields)
        return (fd, flags, length, head, leftover[head_len:])

    def draining(self, eid: int) -> bool:
        return False

    def engine_drain_fd(self, eid: int) -> int:
        return self.drain_fd


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    stub = types.SimpleNamespace(release=engine.release, draining=engine.draining,
                                 engine_drain_fd=engine.engine_drain_fd)
    monkeypatch.setattr(asgi, "_engine", stub)
    monkeypatch.setattr(asgi_connections, "_engine", stub)
    yield engine
    os.close(engine.drain_fd)


def first_item(fd: int) -> tuple[int, int, int, bytes, bytes]:
    head = build_record(b"GET", b"/hello", ("127.0.0.1", 1), ("127.0.0.1", 2), [(b"host", b"x")])
    return (fd, record.HTTP11 | record.KEEP_ALIVE, -1, head, b"")


def run_with_connections(body, keep_alive: float = 5.0) -> None:
    """Run ``body(conns, client, server_fd)`` on a fresh loop and Connections."""

    async def main() -> None:
        server = asgi.HTTPServer(hello, worker_settings(keepalive=keep_alive), access_log=None,
                                 error_log=asgi.logging.getLogger("test"), state={})
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
        assert fd in conns.kept and not conns.kept[fd].busy and fake.releases == []
        for _ in range(3):
            client.sendall(GET)
            assert (await response(client)).endswith(b"hello")
        # each request read here went to the engine's parser, and the
        # connection stayed kept
        assert fake.releases == [(fd, True, GET)] * 3
        assert fd in conns.kept

    run_with_connections(body)


def test_kept_connection_goes_back_after_sticky_requests(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        for _ in range(asgi_connections.STICKY_REQUESTS - 1):
            client.sendall(GET)
            await response(client)
        # the last of the run went back to the engine to be rebalanced
        assert fake.releases[-1] == (fd, True, b"")
        assert fd not in conns.kept
        assert len(fake.releases) == asgi_connections.STICKY_REQUESTS

    run_with_connections(body)


def test_idle_kept_connection_is_closed_after_keep_alive(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        await asyncio.sleep(0.1)
        assert fd in conns.kept  # not yet
        await asyncio.sleep(0.4)
        assert fd not in conns.kept and fake.releases == [(fd, False, b"")]

    run_with_connections(body, keep_alive=0.3)


def test_client_closing_a_kept_connection_releases_it(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        client.shutdown(socket.SHUT_WR)
        for _ in range(200):
            await asyncio.sleep(0.005)
            if fake.releases:
                break
        assert fake.releases == [(fd, False, b"")] and fd not in conns.kept

    run_with_connections(body)


def test_drain_lets_idle_connections_go_and_keeps_no_more(fake) -> None:
    async def body(conns, client, fd):
        conns.serve(first_item(fd))
        await response(client)
        os.eventfd_write(fake.drain_fd, 1)
        await asyncio.sleep(0.05)
        assert conns.stopping and fd not in conns.kept
        assert fake.releases == [(fd, False, b"")]
        conns.serve(first_item(fd))  # a request already on its way is served...
        await response(client)
        assert fake.releases[-1] == (fd, True, b"")  # ...and goes straight back
        assert fd not in conns.kept

    run_with_connections(body)
