"""ASGI keep-alive connections kept on the worker's loop, against a real server.

Runs in: the test process; the server is a subprocess (the loop-level units
with a fake engine are in tests/unit/test_asgi_connections.py).
"""

from __future__ import annotations

import signal
import time

from helpers.http import ResponseReader
from helpers.server import connect

from subserve.asgi import connections as asgi_connections

GET = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"


def test_many_requests_on_one_connection_cross_interpreters(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "2")
    with connect(server) as sock:
        reader = ResponseReader(sock)
        for i in range(5 * asgi_connections.STICKY_REQUESTS):
            sock.sendall(b"GET /hello?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            r = reader.read()
            assert (r.version, r.status, r.reason, r.body, reader.pending) == (
                "HTTP/1.1", 200, "OK", b"Hello, world!", b"")


def test_idle_connection_closed_after_keep_alive(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--keep-alive", "1")
    with connect(server) as sock:
        sock.sendall(GET)
        ResponseReader(sock).read()
        start = time.monotonic()
        assert sock.recv(100) == b""  # closed quietly
        assert 0.8 < time.monotonic() - start < 4


def test_split_and_bad_heads_on_a_kept_connection(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1")
    with connect(server) as sock:
        sock.sendall(GET)
        reader = ResponseReader(sock)
        reader.read()
        sock.sendall(b"GET /hello HTTP/1.1\r\nHo")  # a partial head: the engine completes it
        time.sleep(0.2)
        sock.sendall(b"st: x\r\n\r\n")
        assert reader.read().body == b"Hello, world!"
        sock.sendall(b"GET /hello HTTP/1.1\r\nBad Header\r\n\r\n")
        r = reader.read()
        assert (r.version, r.status, r.reason) == ("HTTP/1.1", 400, "Bad Request")
        assert r.headers["connection"] == "close"
        assert sock.recv(100) == b""


def test_graceful_stop_does_not_wait_for_idle_kept_connections(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "2", "--keep-alive", "60",
                          "--graceful-timeout", "30")
    socks = [connect(server) for _ in range(4)]
    try:
        for sock in socks:
            sock.sendall(GET)
            ResponseReader(sock).read()
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait_exit(20) == 0
        assert time.monotonic() - start < 5  # not the 30 s graceful timeout
        for sock in socks:
            assert sock.recv(100) == b""
    finally:
        for sock in socks:
            sock.close()
