"""WSGIHandler around the request: draining answers Connection: close,
wsgi.errors and the access log, and what the app keeps after its request.

Runs in: the test process (a socketpair stands in for the connection).
"""

from __future__ import annotations

import os
import re

import pytest
from helpers.conn import Conn
from helpers.items import make_item
from helpers.wsgi import hello, make_handler

from subserve.worker.accesslog import AccessLog


def test_draining_answers_connection_close(conn: Conn) -> None:
    handler = make_handler(hello, is_draining=lambda: True)
    nxt = b"GET / HTTP/1.1\r\n\r\n"
    assert handler.handle(make_item(conn.fd, data=nxt)) == (False, b"")
    assert conn.response().get("connection") == "close"


def test_wsgi_errors_forwards_lines(conn: Conn, error_log) -> None:
    def app(environ, start_response):
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.writelines(["part\n", "tail"])
        errors.flush()
        return hello(environ, start_response)

    make_handler(app, error_log).handle(make_item(conn.fd))
    assert error_log[1].messages() == ["first line", "second part", "tail"]


def test_access_log_line(conn: Conn, error_log) -> None:
    read_end, write_end = os.pipe()
    try:
        access = AccessLog(3, fd=write_end)
        make_handler(hello, access_log=access).handle(make_item(conn.fd, b"/p?q=1"))
        access.flush()
        line = os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert re.fullmatch(
        r'\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[worker 3\] \[INFO\] '
        r'127\.0\.0\.1 - "GET /p\?q=1 HTTP/1\.1" 200 13 \d+\.\dms\n', line), line


def test_write_and_input_unusable_after_the_request(conn: Conn) -> None:
    kept = {}

    def app(environ, start_response):
        kept["write"] = start_response("200 OK", [])
        kept["input"] = environ["wsgi.input"]
        return [b"done"]

    item = make_item(conn.fd, method=b"POST", content_length=10, data=b"0123456789")
    assert make_handler(app).handle(item) == (True, b"")
    conn.read_all()
    with pytest.raises(OSError):
        kept["write"](b"late")
    assert kept["input"].read() == b""  # drained already; no read from the fd
    assert conn.read_all() == b""


def test_app_that_clears_environ_still_gets_500(conn: Conn, error_log) -> None:
    def app(environ, start_response):
        environ.clear()
        raise RuntimeError("after clearing")

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        access = AccessLog(0, fd=devnull)
        assert make_handler(app, error_log, access_log=access).handle(make_item(conn.fd))[0]
        access.flush()
    finally:
        os.close(devnull)
    assert conn.response().status == 500
