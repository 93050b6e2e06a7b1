"""SIGTERM under load loses nothing: every request the server read is answered
in full, kept connections end with ``Connection: close``, and it exits 0.

Runs in: the test process (the server runs in its own process). 64 keep-alive
connections send requests back to back on raw sockets, and every request's
outcome is recorded: complete, cut (sent, then the connection ended before
a whole response), or refused (no connection). A request the server never
read can only be cut if the server closed a kept connection under it, which
the drain must not do.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import h11
import pytest
from helpers.http import ResponseReader

pytestmark = pytest.mark.server

CONNECTIONS = 64
HOLD = 0.5  # seconds of load before the SIGTERM


class Outcomes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.closing = 0  # responses that carried Connection: close

    def add(self, outcome: str, closing: bool = False) -> None:
        with self.lock:
            self.counts[outcome] += 1
            self.closing += closing


def keep_sending(port: int, path: str, outcomes: Outcomes, stop: threading.Event) -> None:
    """Requests back to back on one connection until the server closes it."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        outcomes.add("refused")
        return
    with sock:
        reader = ResponseReader(sock)
        while not stop.is_set():
            try:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                response = reader.read()
            except (OSError, AssertionError, h11.ProtocolError):
                outcomes.add("cut")
                return
            closing = (response.get("connection") or "").lower() == "close"
            outcomes.add("complete", closing)
            if closing:
                return


@pytest.mark.parametrize("app, path", [("basic:app", "/hello"), ("asgi_apps:app", "/hello")],
                         ids=["wsgi", "asgi"])
def test_sigterm_under_load_answers_every_request_it_read(start_server, app, path) -> None:
    server = start_server(app, "--workers", "2", "--threads", "4", "--no-access-log")
    outcomes, stop = Outcomes(), threading.Event()
    clients = [threading.Thread(target=keep_sending, args=(server.port, path, outcomes, stop))
               for _ in range(CONNECTIONS)]
    for client in clients:
        client.start()
    time.sleep(HOLD)
    started = time.monotonic()
    server.signal()
    code = server.wait_exit(30)
    took = time.monotonic() - started
    stop.set()
    for client in clients:
        client.join(10)
    counts = outcomes.counts
    assert counts["complete"] > CONNECTIONS, counts
    assert counts["cut"] == 0 and counts["refused"] == 0, counts
    assert outcomes.closing == CONNECTIONS, (outcomes.closing, counts)
    assert code == 0 and took < 10, (code, took)
