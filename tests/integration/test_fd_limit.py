"""Out of file descriptors: the server keeps serving, and does not spin.

Runs in: the test process; the server is a subprocess (conftest.start_server)
whose RLIMIT_NOFILE is 256, soft and hard, so that its start-up raise
cannot lift it.

400 connections are held open, more than the server can have fds for. The
engine then closes its oldest idle connections to make room (keep-alive
ones after a request each; connections that sent nothing), and when none is
left it stops watching the listeners until an fd is free, instead of
waking for ever on a listener whose accept4 fails. So a fresh client is
answered at once, and over a 2 s hold the server uses almost no CPU (it
used 1.5-1.9 s of 2 s before). Keep-alive and header timeouts are long, so
that no timeout frees an fd during the test.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
from helpers.http import ResponseReader
from helpers.server import RunningServer

NOFILE = 256
HELD = 400
HOLD = 2.0
CPU_BUDGET = 0.3  # seconds of CPU over the hold: an idle server uses ~0
LONG = ("--keep-alive", "60", "--header-timeout", "60")
GET = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"


@contextlib.contextmanager
def held_connections(server: RunningServer, *, send: bool) -> Iterator[list[socket.socket]]:
    """HELD connections; with ``send``, each served one request first and
    was kept alive (each is answered: older idle ones make room)."""
    conns: list[socket.socket] = []
    try:
        for _ in range(HELD):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            conns.append(sock)
            if send:
                sock.sendall(GET)
                assert ResponseReader(sock).read().status == 200
        yield conns
    finally:
        for sock in conns:
            sock.close()


def fresh_get(server: RunningServer) -> int:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return ResponseReader(sock).read().status


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def cpu_over_hold(server: RunningServer) -> float:
    time.sleep(0.3)  # whatever the last connections started settles
    before = server.cpu_seconds()
    time.sleep(HOLD)
    return server.cpu_seconds() - before


def check_out_of_fds(server: RunningServer, *, send: bool) -> None:
    with held_connections(server, send=send) as conns:
        spent = cpu_over_hold(server)
        assert spent < CPU_BUDGET, f"{spent:.2f} s of CPU over a {HOLD} s hold:\n{server.log()}"
        for _ in range(3):
            assert fresh_get(server) == 200
        # the oldest made room for the newer ones and the fresh clients
        closed = sum(closed_by_server(sock) for sock in conns)
        assert closed >= HELD - NOFILE, closed
        assert all(not closed_by_server(sock) for sock in conns[-100:])  # the newest stay
        server.wait_for_log("cannot accept connections: EMFILE")
    # one warning for the whole episode, not one per accept
    warnings = [line for line in server.lines if "cannot accept connections" in line]
    assert len(warnings) == 1, server.log()


@pytest.mark.parametrize("send", [True, False], ids=["idle-keep-alive", "sent-nothing"])
def test_out_of_fds_serves_fresh_clients_without_spinning(start_server, send: bool) -> None:
    server = start_server("basic:app", "--workers", "1", *LONG, nofile=NOFILE)
    check_out_of_fds(server, send=send)


@pytest.mark.kinds("interpreter")
def test_out_of_fds_asgi_connections_that_sent_nothing(start_server) -> None:
    # an ASGI loop keeps its idle keep-alive connections itself, out of the
    # engine's reach; connections that sent nothing are the engine's
    server = start_server("asgi_apps:app", "--workers", "1", *LONG, nofile=NOFILE)
    check_out_of_fds(server, send=False)


@pytest.mark.kinds("interpreter")
def test_out_of_fds_with_nothing_to_close_pauses_accepting(start_server) -> None:
    # partial heads are requests in progress: never closed to make room, so
    # a fresh client waits; the server must still not spin meanwhile
    server = start_server("basic:app", "--workers", "1", *LONG, nofile=NOFILE)
    conns = []
    try:
        for _ in range(HELD):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /hello HTTP/1.1\r\n")
            conns.append(sock)
        spent = cpu_over_hold(server)
        assert spent < CPU_BUDGET, f"{spent:.2f} s of CPU over a {HOLD} s hold"
        assert not any(closed_by_server(sock) for sock in conns)
        # the connections the engine holds are served as ever
        conns[0].close()
        conns[1].sendall(b"Host: x\r\n\r\n")
        conns[1].setblocking(True)
        assert ResponseReader(conns[1]).read().status == 200
    finally:
        for sock in conns:
            sock.close()


def test_startup_logs_the_open_files_limit(start_server) -> None:
    server = start_server("basic:app", "--workers", "1", nofile=NOFILE)
    assert "open files limit: 256" in server.wait_for_log("open files limit")
