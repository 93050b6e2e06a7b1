"""HTTP/1.1 behaviour of a real subserve server, over httpx and raw sockets.

Runs in: the test process; the server is a subprocess (conftest.start_server).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import time

import httpx
import pytest
from helpers.http import ResponseReader
from helpers.server import KINDS, RunningServer, free_port, raw_request


@pytest.fixture(scope="module", params=KINDS, ids=[f"kind={k}" for k in KINDS])
def server(request):
    """One server per worker kind for the module's read-only tests (2 workers,
    2 threads each)."""
    port = free_port()
    srv = RunningServer(["basic:app", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                         "--threads", "2", "--keep-alive", "2",
                         "--worker-kind", request.param], port)
    srv.wait_ready()
    yield srv
    srv.stop()


def test_hello_gets_content_length_and_keeps_alive(server):
    with httpx.Client(base_url=server.url) as client:
        first = client.get("/hello")
        second = client.get("/hello")
    assert first.status_code == 200 and first.text == "Hello, world!"
    assert first.headers["content-length"] == "13"  # a one-element list gets a length
    assert "date" in first.headers and first.headers["server"] == "subserve"
    assert second.extensions["network_stream"] is not None
    # one connection served both: the server counts a single accept for them
    assert second.text == "Hello, world!"


def test_keep_alive_reuses_one_connection(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(3):
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"Hello, world!"):
                chunk = sock.recv(65536)
                assert chunk, "server closed a keep-alive connection"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_pipelined_requests_are_answered_in_order(server):
    requests = b"".join(
        f"GET /environ?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(requests)
        reader = ResponseReader(sock)
        responses = [reader.read() for _ in range(5)]
    queries = [r.body for r in responses]
    for i, body in enumerate(queries):
        assert f'"QUERY_STRING": "n={i}"'.encode() in body


def test_chunked_request_body_is_decoded(server):
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (b"hello ", b"chunked ", b"world"))
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           + body + b"0\r\n\r\n")
    reply = raw_request(server.port, raw)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b"hello chunked world")


def test_generator_response_is_chunked_on_http11_and_close_delimited_on_http10(server):
    with httpx.Client(base_url=server.url) as client:
        streamed = client.get("/stream")
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.text == "".join(f"chunk {i}\n" for i in range(5))
    reply = raw_request(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower() and b"content-length" not in head.lower()
    assert body == b"".join(f"chunk {i}\n".encode() for i in range(5))


def test_http10_keep_alive_when_asked(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            data = b""
            while not data.endswith(b"Hello, world!"):
                data += sock.recv(65536)
            assert b"connection: keep-alive" in data.lower()


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abcde")
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"abcde")


def test_head_has_headers_but_no_body(server):
    reply = raw_request(server.port, b"HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"content-length: 13" in head.lower()
    assert body == b""


def test_five_mib_response(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.get("/big", params=None)
    assert len(response.content) == 5 * 1024 * 1024
    assert set(response.content) == {ord("x")}


def test_one_mib_upload(server):
    payload = os.urandom(1024 * 1024)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/echo", content=payload)
    assert response.headers["x-sha256"] == hashlib.sha256(payload).hexdigest()
    assert response.content == payload


def test_app_exception_gives_500_and_the_worker_keeps_serving(server):
    with httpx.Client(base_url=server.url) as client:
        for _ in range(4):  # more than workers x threads: every worker survives
            assert client.get("/raise").status_code == 500
        assert client.get("/hello").text == "Hello, world!"
    server.wait_for_log("the app failed on purpose")


def test_exception_after_headers_aborts_the_connection(server):
    reply = raw_request(server.port, b"GET /raise-late HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert not reply.endswith(b"0\r\n\r\n"), "an aborted response must not look complete"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: x\n\n", 400),
        (b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),  # chunked not last
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n", 431),
    ],
    ids=["no-host", "cl-and-te", "two-cl", "obs-fold", "bare-lf", "nul", "http2", "gzip-te", "unknown-te",
         "long-line", "big-field", "many-fields"],
)
def test_malformed_heads_get_4xx_and_close(server, raw, status):
    reply = raw_request(server.port, raw)  # returns only once the server closed
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:80]
    assert b"connection: close" in reply.lower()


def test_garbage_then_valid_server_still_serves(server):
    raw_request(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10 + b"\r\n\r\n")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/hello").status_code == 200


def test_slow_head_times_out_with_408(start_server):
    server = start_server("basic:app", "--workers", "1", "--header-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        started = time.monotonic()
        reply = sock.recv(65536)
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert waited < 9  # closed by --header-timeout 1, not by our own socket timeout


def test_idle_keep_alive_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"Hello, world!"):
            data += sock.recv(65536)
        assert sock.recv(65536) == b""  # --keep-alive 2: closed, silently


def test_two_hundred_concurrent_connections(server):
    def one(i: int) -> str:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.get(f"/environ?i={i}").json()["QUERY_STRING"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(one, range(200)))
    assert answers == [f"i={i}" for i in range(200)]
