"""--limit-request-body: 413 for a body over the limit, the connection closed.

Runs in: the test process; the server is a subprocess (conftest.start_server).

A Content-Length over the limit is refused by the engine before any worker
sees the request: the app is never called. A chunked body that grows past
it is stopped by the worker's decoder at the chunk that would cross it: the
app's read fails (WSGI) or it gets http.disconnect (ASGI), and the server
answers 413. The app records each call (RECORD_FILE) before reading.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from helpers.http import ResponseReader
from helpers.wsgi import chunked

LIMIT = 1000
APPS = ["basic:app", "asgi_apps:app"]


def post(port: int, head_fields: bytes, body: bytes = b"") -> tuple[list, bool]:
    """Send a POST /recorded-echo; the responses read until the server closes,
    and whether it did close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /recorded-echo HTTP/1.1\r\nHost: x\r\n" + head_fields + b"\r\n" + body)
        reader = ResponseReader(sock)
        resp = reader.read("POST")
        sock.settimeout(1)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        return resp, closed


def calls(record: Path) -> int:
    return len(record.read_text().splitlines()) if record.exists() else 0


@pytest.mark.parametrize("app", APPS)
def test_limit_request_body(start_server, tmp_path: Path, app: str) -> None:
    record = tmp_path / "calls"
    server = start_server(app, "--workers", "1", "--limit-request-body", str(LIMIT), "--keep-alive", "30",
                          env={"RECORD_FILE": str(record), "ASGI_MARKER_DIR": str(tmp_path)})

    # Content-Length over: 413 at the door, closed, the app never called
    for fields in (b"Content-Length: %d\r\n" % (LIMIT + 1),
                   b"Content-Length: %d\r\nExpect: 100-continue\r\n" % (LIMIT + 1)):
        resp, closed = post(server.port, fields, b"x" * 100)
        assert resp.status == 413 and resp.get("connection") == "close", resp
        assert closed
    assert calls(record) == 0

    # chunked over: the app is called, its read fails, 413 and closed
    resp, closed = post(server.port, b"Transfer-Encoding: chunked\r\n",
                        chunked(b"a" * 600, b"b" * 600))
    assert resp.status == 413 and resp.get("connection") == "close", resp
    assert closed
    assert calls(record) == 1

    # at the limit: served, body intact, kept alive
    body = bytes(range(256)) * 3 + b"z" * (LIMIT - 768)
    for fields, wire in ((b"Content-Length: %d\r\n" % LIMIT, body),
                         (b"Transfer-Encoding: chunked\r\n", chunked(body[:400], body[400:]))):
        resp, closed = post(server.port, fields, wire)
        assert resp.status == 200 and resp.body == body
        assert resp.get("x-sha256") == hashlib.sha256(body).hexdigest()
        assert not closed
    assert calls(record) == 3


def test_no_limit_by_default(start_server, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    server = start_server("basic:app", "--workers", "1", env={"RECORD_FILE": str(record)})
    body = b"q" * (4 << 20)
    resp, _ = post(server.port, b"Content-Length: %d\r\n" % len(body), body)
    assert resp.status == 200 and resp.get("x-sha256") == hashlib.sha256(body).hexdigest()


def test_limit_from_the_environment(start_server, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    server = start_server("basic:app", "--workers", "1",
                          env={"RECORD_FILE": str(record), "SUBSERVE_LIMIT_REQUEST_BODY": "10"})
    resp, closed = post(server.port, b"Content-Length: 11\r\n", b"x" * 11)
    assert resp.status == 413 and closed and calls(record) == 0
