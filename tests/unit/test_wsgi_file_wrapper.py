"""wsgi.file_wrapper: sendfile for real files, the app's Content-Length, HEAD,
and plain iteration for file-likes without a fileno.

Runs in: the test process (a socketpair stands in for the connection).
"""

from __future__ import annotations

import io
import os

import pytest
from helpers.conn import Conn
from helpers.items import make_item
from helpers.wsgi import make_handler


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    return path, data


@pytest.fixture
def sendfile_calls(monkeypatch):
    calls = []
    real = os.sendfile

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(os, "sendfile", spy)
    return calls


def file_app(path, offset=0, headers=()):
    def app(environ, start_response):
        f = open(path, "rb")  # noqa: SIM115 - closed through the wrapper
        f.seek(offset)
        start_response("200 OK", list(headers))
        return environ["wsgi.file_wrapper"](f, 4096)
    return app


def read_exactly(conn: Conn, total: int) -> bytes:
    buf = b""
    while len(buf) < total:
        buf += conn.client.recv(total - len(buf))
    return buf


def serve_in_thread(handler, item):
    import threading

    out = {}
    thread = threading.Thread(target=lambda: out.update(result=handler.handle(item)))
    thread.start()
    return thread, out


def test_file_wrapper_uses_sendfile(conn: Conn, big_file, sendfile_calls) -> None:
    path, data = big_file
    # the response is bigger than the socket buffer: read while it is sent
    thread, out = serve_in_thread(make_handler(file_app(path, offset=1000)), make_item(conn.fd))
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.client.recv(1)
    body = read_exactly(conn, len(data) - 1000)
    thread.join(10)
    assert out["result"] == (True, b"")
    assert b"Content-Length: %d\r\n" % (len(data) - 1000) in head
    assert body == data[1000:]
    assert sendfile_calls


def test_file_wrapper_respects_app_length(conn: Conn, big_file, sendfile_calls) -> None:
    path, data = big_file
    handler = make_handler(file_app(path, headers=[("Content-Length", "100")]))
    assert handler.handle(make_item(conn.fd)) == (True, b"")
    resp = conn.response()
    assert resp.body == data[:100]
    assert sendfile_calls


def test_file_wrapper_head(conn: Conn, big_file, sendfile_calls) -> None:
    path, data = big_file
    assert make_handler(file_app(path)).handle(make_item(conn.fd, method=b"HEAD")) == (True, b"")
    resp = conn.response(head=True)
    assert resp.get("content-length") == str(len(data))
    assert conn.read_all() == b""
    assert not sendfile_calls


def test_file_wrapper_without_fileno_is_iterated(conn: Conn, sendfile_calls) -> None:
    closed = []

    class Source(io.BytesIO):
        def close(self):
            closed.append(True)
            super().close()

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](Source(b"x" * 10000), 4096)

    assert make_handler(app).handle(make_item(conn.fd)) == (True, b"")
    resp = conn.response()
    assert resp.get("transfer-encoding") == "chunked"
    assert resp.body == b"x" * 10000
    assert closed == [True]
    assert not sendfile_calls
