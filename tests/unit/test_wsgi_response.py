"""WSGIHandler.handle driven over a socketpair, with hand-built queue items:
the response side (status, headers, framing by version and method, lengths,
the write callable).

The server end's fd goes into the item as the engine would pass it; the
response is read from the other end (helpers.conn).  Sends go through the
real ``subserve._engine.send_all``.  The request body, errors, file_wrapper
and logs have files of their own (test_wsgi_*.py).

Runs in: the test process.
"""

from __future__ import annotations

import logging
import warnings
from wsgiref.validate import validator

import pytest
from helpers.conn import Conn, parse_responses
from helpers.items import make_item
from helpers.wsgi import hello, make_handler, stream

from subserve import _engine
from subserve.handoff.item import HTTP11, KEEP_ALIVE
from subserve.wsgi.streams import FileWrapper

# -- basics ----------------------------------------------------------------------


def test_real_send_all_is_used() -> None:
    import subserve.wsgi.input as input_mod
    import subserve.wsgi.response as wsgi_mod

    assert wsgi_mod.send_all is _engine.send_all
    assert input_mod.send_all is _engine.send_all
    assert type(_engine.send_all).__name__ == "builtin_function_or_method"


def test_hello_world(conn: Conn) -> None:
    keep, leftover = make_handler(hello).handle(make_item(conn.fd))
    assert (keep, leftover) == (True, b"")
    resp = conn.response()
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.body == b"Hello, world!"
    assert resp.get("content-length") == "13"
    assert resp.get("content-type") == "text/plain"
    assert resp.get("server") == "subserve"
    assert resp.get("date").endswith(" GMT")
    assert resp.get("connection") is None
    assert resp.get("transfer-encoding") is None


def test_environ_seen_by_app(conn: Conn) -> None:
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return hello(environ, start_response)

    item = make_item(conn.fd, b"/caf%C3%A9/x%2Fy?a=%20b", headers=[
        (b"host", b"example.com"), (b"accept", b"a"), (b"accept", b"b"),
        (b"content-type", b"text/plain")], method=b"POST", content_length=0)
    make_handler(app).handle(item)
    assert seen["PATH_INFO"].encode("latin-1").decode() == "/café/x/y"
    assert seen["QUERY_STRING"] == "a=%20b"
    assert seen["CONTENT_TYPE"] == "text/plain"
    assert seen["CONTENT_LENGTH"] == "0"
    assert seen["HTTP_ACCEPT"] == "a, b"
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["REMOTE_PORT"] == "40000"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["wsgi.file_wrapper"] is FileWrapper
    assert seen["wsgi.input"].read() == b""


def sized_echo(environ, start_response):
    # the validator's input wrapper insists on read(size)
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


@pytest.mark.parametrize("app, body", [
    (hello, b"Hello, world!"), (sized_echo, b"abcde"), (stream, b"one,two")])
def test_validator_wrapped_apps(conn: Conn, app, body: bytes) -> None:
    handler = make_handler(validator(app))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keep = handler.handle(make_item(conn.fd, b"/v?x=1", method=b"POST",
                                        content_length=5, data=b"abcde"))[0]
        first = conn.response()
        keep_head = handler.handle(make_item(conn.fd, b"/v", method=b"HEAD"))[0]
        second = conn.response(head=True)
    assert keep and keep_head
    assert (first.status, first.body) == (200, body)
    assert (second.status, second.body) == (200, b"")


# -- response framing ------------------------------------------------------------


def test_chunked_response_on_http11(conn: Conn) -> None:
    assert make_handler(stream).handle(make_item(conn.fd)) == (True, b"")
    raw = conn.read_all()
    assert raw.endswith(b"4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n")
    resp = parse_responses(raw)[0]
    assert resp.get("transfer-encoding") == "chunked"
    assert resp.body == b"one,two"


def test_close_delimited_response_on_http10(conn: Conn) -> None:
    assert make_handler(stream).handle(make_item(conn.fd, flags=KEEP_ALIVE)) == (False, b"")
    resp = conn.response()
    assert resp.get("transfer-encoding") is None
    assert resp.get("content-length") is None
    assert resp.get("connection") == "close"
    assert resp.body == b"one,two"


def test_http10_keep_alive_with_length(conn: Conn) -> None:
    assert make_handler(hello).handle(make_item(conn.fd, flags=KEEP_ALIVE)) == (True, b"")
    assert conn.response().get("connection") == "keep-alive"


def test_http10_without_keep_alive(conn: Conn) -> None:
    assert make_handler(hello).handle(make_item(conn.fd, flags=0)) == (False, b"")
    assert conn.response().get("connection") == "close"


def test_client_connection_close(conn: Conn) -> None:
    assert make_handler(hello).handle(make_item(conn.fd, flags=HTTP11)) == (False, b"")
    assert conn.response().get("connection") == "close"


def test_list_body_gets_computed_length(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"a", b"", bytearray(b"bc"), b"d"]

    make_handler(app).handle(make_item(conn.fd))
    resp = conn.response()
    assert resp.get("content-length") == "4" and resp.body == b"abcd"


def test_empty_body_gets_zero_length(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return iter([b""])

    assert make_handler(app).handle(make_item(conn.fd)) == (True, b"")
    assert conn.response().get("content-length") == "0"


@pytest.mark.parametrize("app", [hello, stream])
def test_head(conn: Conn, app) -> None:
    closed = []

    class Body:
        def __init__(self, it):
            self.it = iter(it)

        def __iter__(self):
            return self.it

        def close(self):
            closed.append(True)

    def wrapped(environ, start_response):
        return Body(app(environ, start_response))

    item = make_item(conn.fd, method=b"HEAD", data=b"GET / HTTP/1.1\r\n\r\n")
    assert make_handler(wrapped).handle(item) == (True, b"GET / HTTP/1.1\r\n\r\n")
    raw = conn.read_all()
    assert raw.endswith(b"\r\n\r\n")
    resp = parse_responses(raw, head=True)[0]
    assert resp.get("transfer-encoding") is None
    assert resp.body == b""
    assert closed == [True]


def test_head_list_body_gets_get_length(conn: Conn) -> None:
    make_handler(hello).handle(make_item(conn.fd, method=b"HEAD"))
    raw = conn.read_all()
    assert raw.endswith(b"\r\n\r\n") and b"Hello" not in raw
    assert parse_responses(raw, head=True)[0].get("content-length") == "13"


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_content_statuses(conn: Conn, status: str) -> None:
    def app(environ, start_response):
        start_response(status, [("Content-Length", "5"), ("ETag", '"x"')])
        return [b"hello"]

    nxt = b"GET / HTTP/1.1\r\n\r\n"
    assert make_handler(app).handle(make_item(conn.fd, data=nxt)) == (True, nxt)
    raw = conn.read_all()
    assert raw.endswith(b"\r\n\r\n") and b"hello" not in raw
    resp = parse_responses(raw)[0]
    assert resp.get("transfer-encoding") is None
    # a 304 may carry the representation's length, a 204 must not
    assert resp.get("content-length") == ("5" if status.startswith("304") else None)


def test_app_content_length_is_a_ceiling(conn: Conn, error_log) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return iter([b"hel", b"lo world", b"!"])

    assert make_handler(app, error_log).handle(make_item(conn.fd)) == (True, b"")
    resp = conn.response()
    assert resp.body == b"hello"
    assert conn.read_all() == b""
    assert any("Content-Length" in m for m in error_log[1].messages(logging.WARNING))


def test_short_body_for_content_length_closes(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])
        return iter([b"short"])

    assert make_handler(app).handle(make_item(conn.fd)) == (False, b"")


def test_write_callable(conn: Conn) -> None:
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"via ")
        write(b"")
        write(b"write, ")
        return [b"then iterable"]

    assert make_handler(app).handle(make_item(conn.fd)) == (True, b"")
    resp = conn.response()
    assert resp.get("transfer-encoding") == "chunked"
    assert resp.body == b"via write, then iterable"


def test_write_with_content_length(conn: Conn) -> None:
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Length", "6")])
        write(b"abc")
        write(b"def")
        return []

    assert make_handler(app).handle(make_item(conn.fd)) == (True, b"")
    assert conn.response().body == b"abcdef"


def test_lazy_start_response_in_generator(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("201 Created", [("Location", "/x")])
        yield b"made"

    make_handler(app).handle(make_item(conn.fd))
    resp = conn.response()
    assert (resp.status, resp.reason, resp.body) == (201, "Created", b"made")


def test_hop_by_hop_headers_dropped_connection_close_honoured(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "gzip"),
                                  ("Upgrade", "h2c"), ("Connection", "Close"), ("X-Ok", "1")])
        return [b"x"]

    assert make_handler(app).handle(make_item(conn.fd)) == (False, b"")
    resp = conn.response()
    assert resp.get("keep-alive") is None and resp.get("upgrade") is None
    assert resp.get("transfer-encoding") is None
    assert resp.get("connection") == "close"
    assert resp.get("x-ok") == "1"


def test_app_date_and_server_not_duplicated(conn: Conn) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Server", "mine"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")])
        return [b"x"]

    make_handler(app).handle(make_item(conn.fd))
    resp = conn.response()
    assert resp.get("server") == "mine"
    assert resp.get("date") == "Thu, 01 Jan 1970 00:00:00 GMT"
