"""WSGIHandler when the app fails: 500s before the head, aborts after it,
exc_info, invalid statuses and headers, close() always called, a client gone.

Runs in: the test process (a socketpair stands in for the connection).
"""

from __future__ import annotations

import logging
import socket
import sys

import pytest
from helpers.conn import Conn, parse_responses
from helpers.items import make_item
from helpers.wsgi import hello, make_handler, stream


@pytest.mark.parametrize("status, headers", [
    ("200 OK", [("X-Bad", "a\r\nSet-Cookie: evil=1")]),
    ("200 OK", [("X-Bad", "a\nb")]),
    ("200 OK", [("X-Bad", "a\0b")]),
    ("200 OK", [("X Bad", "v")]),
    ("200 OK", [("X-Bad:", "v")]),
    ("200 OK", [(b"X-Bytes", "v")]),
    ("200 OK", [("X-Bytes", b"v")]),
    ("200 OK", [("X-Wide", "\u20ac")]),
    ("200 OK", [("Content-Length", "-1")]),
    ("200 OK", [("Content-Length", "1"), ("Content-Length", "2")]),
    ("200 OK\r\nX: y", []),
    ("OK", []),
    ("20 OK", []),
    (b"200 OK", []),
])
def test_invalid_status_or_headers_answer_500(conn: Conn, status, headers, error_log) -> None:
    def app(environ, start_response):
        start_response(status, headers)
        return [b"body"]

    assert make_handler(app, error_log).handle(make_item(conn.fd)) == (True, b"")
    raw = conn.read_all()
    assert b"evil" not in raw
    assert parse_responses(raw)[0].status == 500


def test_app_exception_is_500_and_handler_still_usable(conn: Conn, error_log) -> None:
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        return hello(environ, start_response)

    handler = make_handler(app, error_log)
    assert handler.handle(make_item(conn.fd, b"/boom")) == (True, b"")
    assert handler.handle(make_item(conn.fd, b"/ok")) == (True, b"")
    first, second = conn.responses()
    assert first.status == 500
    assert first.body == b"Internal Server Error\n"
    assert second.status == 200
    (rec,) = [r for r in error_log[1].records if r.levelno == logging.ERROR]
    assert rec.exc_info and rec.exc_info[0] is RuntimeError
    assert "/boom" in rec.getMessage()


def test_app_exception_on_head_has_no_body(conn: Conn) -> None:
    def app(environ, start_response):
        raise ValueError

    make_handler(app).handle(make_item(conn.fd, method=b"HEAD"))
    raw = conn.read_all()
    assert raw.startswith(b"HTTP/1.1 500 ") and raw.endswith(b"\r\n\r\n")


def test_exception_after_head_sent_aborts(conn: Conn, error_log) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"partial"
        raise RuntimeError("late")

    assert make_handler(app, error_log).handle(make_item(conn.fd)) == (False, b"")
    raw = conn.read_all()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert not raw.endswith(b"0\r\n\r\n")  # no last chunk: the client sees the abort


def test_exc_info_replaces_response_before_head_sent(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("X-First", "1")])
        try:
            raise KeyError("x")
        except KeyError:
            start_response("503 Service Unavailable", [("X-Second", "1")], sys.exc_info())
        return [b"sorry"]

    assert make_handler(app).handle(make_item(conn.fd)) == (True, b"")
    resp = conn.response()
    assert resp.status == 503 and resp.body == b"sorry"
    assert resp.get("x-first") is None and resp.get("x-second") == "1"


def test_exc_info_reraised_after_head_sent(conn: Conn, error_log) -> None:
    reraised = []

    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"started")
        try:
            raise KeyError("original")
        except KeyError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except KeyError as exc:
                reraised.append(exc)
                raise
        return []

    assert make_handler(app, error_log).handle(make_item(conn.fd)) == (False, b"")
    assert len(reraised) == 1
    assert conn.read_all().startswith(b"HTTP/1.1 200 OK")


def test_start_response_twice_without_exc_info_is_500(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b""]

    make_handler(app).handle(make_item(conn.fd))
    assert conn.response().status == 500


@pytest.mark.parametrize("body", [["text"], iter(["text"]), [b"ok", "text"]])
def test_str_body_is_500(conn: Conn, body) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    make_handler(app).handle(make_item(conn.fd))
    assert conn.response().status == 500


def test_no_start_response_is_500(conn: Conn) -> None:
    make_handler(lambda environ, start_response: [b"x"]).handle(make_item(conn.fd))
    assert conn.response().status == 500


def test_close_called_on_success_error_and_abort(conn: Conn) -> None:
    closed = []

    class Body:
        def __init__(self, chunks, fail=False):
            self.chunks, self.fail = chunks, fail

        def __iter__(self):
            yield from self.chunks
            if self.fail:
                raise RuntimeError("iteration failed")

        def close(self):
            closed.append(self.chunks)

    def app(environ, start_response):
        start_response("200 OK", [])
        path = environ["PATH_INFO"]
        return Body([path.encode()], fail=path != "/ok")

    handler = make_handler(app)
    handler.handle(make_item(conn.fd, b"/ok"))
    handler.handle(make_item(conn.fd, b"/fail"))
    assert closed == [[b"/ok"], [b"/fail"]]


def test_client_gone_returns_quietly(conn: Conn, error_log) -> None:
    conn.client.close()
    assert make_handler(hello, error_log).handle(make_item(conn.fd)) == (False, b"")
    assert make_handler(stream, error_log).handle(make_item(conn.fd)) == (False, b"")
    assert not error_log[1].messages(logging.WARNING)
    conn.client = socket.socket()  # for the fixture's close
