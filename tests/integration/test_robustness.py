"""What a client sends never hangs or crashes the server: a bounded live fuzz.

Runs in: the test process; the server is a subprocess (conftest.start_server).

Mutated and truncated requests, garbage, and abrupt disconnects go to a real
server over many connections; every connection must end (an answer or a
close) within its timeout, and afterwards the server must still answer
correctly and stop cleanly. The seed is fixed, so a failure replays.
"""

from __future__ import annotations

import random
import socket
from collections import Counter

import httpx
import pytest
from helpers.http import ResponseReader

SEED_REQUESTS = [
    b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /environ?a=1&b=%41 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD /stream HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
]
ALPHABET = b"\x00\r\n :;,\t\x7f\xff%0aZ-/?HTTP1.chunked"


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, insert, delete or duplicate a few bytes, or cut the request short."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] = rng.choice(ALPHABET)
        elif op == 1:
            out[pos:pos] = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del out[pos:pos + rng.randint(1, 8)]
        elif op == 3:
            out[pos:pos] = out[:pos][-16:]
        else:
            del out[pos:]
    return bytes(out)


def exchange(port: int, payload: bytes, rng: random.Random, *, after_one: bool = False) -> bytes:
    """Send payload (maybe pipelined twice, maybe hanging up early); return the
    status code of the first answer to it (b"" when there was none).

    ``after_one``: first a good request and its whole answer, so that the
    payload arrives on a connection the worker keeps between requests.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if after_one:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert ResponseReader(sock).read().body == b"Hello, world!"
        sock.sendall(payload * rng.choice((1, 1, 2)))
        if rng.random() < 0.2:
            return b""  # disconnect without reading: the server must cope
        sock.shutdown(socket.SHUT_WR)  # no more bytes: a partial head must not wait for ever
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received[9:12] if received.startswith(b"HTTP/1.1 ") else b""


def fuzz_and_check(server, seed: int, *, after_one: bool = False) -> None:
    """300 fuzz connections, then the server must still serve, and stop cleanly
    without having logged a fault of its own."""
    rng = random.Random(seed)
    statuses = Counter()
    for i in range(300):
        payload = mutate(rng, rng.choice(SEED_REQUESTS)) if i % 10 else rng.randbytes(rng.randint(1, 300))
        # a hang fails with TimeoutError
        statuses[exchange(server.port, payload, rng, after_one=after_one)] += 1
    # the mix really exercised both sides: requests served and requests refused
    assert statuses[b"200"] > 0 and statuses[b"400"] > 10, statuses
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/hello").text == "Hello, world!"
        assert client.post("/echo", content=b"still here").content == b"still here"
    assert server.proc.poll() is None
    assert server.stop() == 0
    # the apps' own errors (one asserts on a bad body) may be logged; ours must not be:
    # a serve task's, a reader callback's, or the interpreter's
    for ours in ("internal error", "Exception in callback", "Fatal Python error", "Segmentation"):
        assert ours not in server.log(), server.log()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_mutated_requests_never_hang_or_crash_the_server(start_server, workers: str) -> None:
    server = start_server("basic:app", "--workers", workers, "--threads", "2",
                          "--no-access-log", "--header-timeout", "2")
    fuzz_and_check(server, 20261122 + int(workers))


def test_mutated_requests_on_kept_asgi_connections(start_server) -> None:
    """The same fuzz against ASGI, each payload sent on a connection the loop
    keeps after a good request (asgi_connections), not through the engine."""
    server = start_server("asgi_apps:app", "--workers", "2", "--no-access-log",
                          "--header-timeout", "2")
    fuzz_and_check(server, 20261123, after_one=True)
