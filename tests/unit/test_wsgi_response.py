"""WSGIHandler.handle driven over a socketpair, with hand-built queue items.

The server end's fd goes into the item as the engine would pass it; the
response is read raw from the other end.  Sends go through the real
``subserve._engine.send_all``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import socket
import sys
import warnings
from wsgiref.validate import validator

import pytest
from helpers.conn import Conn, parse_responses
from helpers.items import H11, make_item
from helpers.wsgi import chunked, echo, hello, make_handler, stream

from subserve import _engine
from subserve.errors import BadBody
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE, HTTP11, KEEP_ALIVE
from subserve.worker.accesslog import AccessLog
from subserve.wsgi.streams import FileWrapper

# -- basics ----------------------------------------------------------------------


def test_real_send_all_is_used() -> None:
    import subserve.wsgi.handler as wsgi_mod
    import subserve.wsgi.input as input_mod

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


# -- request bodies ------------------------------------------------------------


def test_content_length_body_in_data(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", content_length=5, data=b"hello")
    assert make_handler(echo).handle(item) == (True, b"")
    resp = conn.response()
    assert resp.body == b"hello"
    assert resp.get("x-len") == "5"


def test_content_length_body_split_across_data_and_socket(conn: Conn) -> None:
    conn.client.sendall(b"world and more")
    item = make_item(conn.fd, method=b"POST", content_length=20, data=b"hello ")
    keep, leftover = make_handler(echo).handle(item)
    assert keep and leftover == b""
    assert conn.response().body == b"hello world and more"


def test_content_length_body_never_read_past_on_socket(conn: Conn) -> None:
    # the next request is already on the socket; only the body may be read
    conn.client.sendall(b"defGET /next HTTP/1.1\r\n\r\n")
    item = make_item(conn.fd, method=b"POST", content_length=6, data=b"abc")
    assert make_handler(echo).handle(item) == (True, b"")
    assert conn.response().body == b"abcdef"
    conn.server.setblocking(False)
    assert conn.server.recv(100) == b"GET /next HTTP/1.1\r\n\r\n"


def test_readline_and_iteration(conn: Conn) -> None:
    got = {}

    def app(environ, start_response):
        inp = environ["wsgi.input"]
        got["first"] = inp.readline()
        got["limited"] = inp.readline(3)
        got["rest_of_line"] = inp.readline()
        got["lines"] = list(inp)
        got["eof"] = inp.readline()
        return hello(environ, start_response)

    conn.client.sendall(b"ne three\nfour\nfive")
    item = make_item(conn.fd, method=b"POST", content_length=28, data=b"one\ntwo li")
    assert make_handler(app).handle(item)[0]
    assert got == {"first": b"one\n", "limited": b"two", "rest_of_line": b" line three\n",
                   "lines": [b"four\n", b"five"], "eof": b""}


def test_readlines_hint_and_read_sizes(conn: Conn) -> None:
    got = {}

    def app(environ, start_response):
        inp = environ["wsgi.input"]
        got["two"] = inp.read(2)
        got["lines"] = inp.readlines(3)
        got["rest"] = inp.read(100)
        got["end"] = inp.read(1)
        return hello(environ, start_response)

    body = b"abc\nde\nfg\n"
    make_handler(app).handle(make_item(conn.fd, method=b"PUT", content_length=len(body),
                                       data=body))
    assert got == {"two": b"ab", "lines": [b"c\n", b"de\n"], "rest": b"fg\n", "end": b""}


def test_chunked_body_in_data(conn: Conn) -> None:
    body = chunked(b"hello ", b"chunked ", b"world")
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=body)
    assert make_handler(echo).handle(item) == (True, b"")
    resp = conn.response()
    assert resp.body == b"hello chunked world"
    assert resp.get("x-len") == "none"


def test_chunked_body_split_with_extensions_trailers_and_pipelining(conn: Conn) -> None:
    raw = (b"5;name=value\r\nhello\r\n1; a=\"b\"\r\n \r\n"
           b"0005\r\nworld\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    conn.client.sendall(raw[9:])
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=raw[:9])
    keep, leftover = make_handler(echo).handle(item)
    assert keep
    assert leftover == b"GET /next HTTP/1.1\r\n\r\n"
    assert conn.response().body == b"hello world"


def test_chunked_body_split_at_every_offset() -> None:
    raw = chunked(b"ab", b"c" * 20, trailer=b"X-T: 1\r\n") + b"NEXT"
    handler = make_handler(echo)
    for cut in range(len(raw)):
        c = Conn()
        try:
            c.client.sendall(raw[cut:])
            item = make_item(c.fd, method=b"POST", flags=H11 | CHUNKED, data=raw[:cut])
            keep, leftover = handler.handle(item)
            assert keep, cut
            assert c.response().body == b"ab" + b"c" * 20, cut
            # what the reader took past the body comes back; the rest is unread
            try:
                unread = c.server.recv(100, socket.MSG_DONTWAIT)
            except BlockingIOError:
                unread = b""
            assert leftover + unread == b"NEXT", cut
        finally:
            c.close()


def test_chunked_readline_across_chunks(conn: Conn) -> None:
    lines = []

    def app(environ, start_response):
        lines.extend(environ["wsgi.input"])
        return hello(environ, start_response)

    body = chunked(b"ab", b"c\nd", b"ef\n", b"g")
    make_handler(app).handle(make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=body))
    assert lines == [b"abc\n", b"def\n", b"g"]


@pytest.mark.parametrize("raw", [
    b"zz\r\nhello\r\n0\r\n\r\n",          # not hex
    b"0x5\r\nhello\r\n0\r\n\r\n",         # prefix
    b" 5\r\nhello\r\n0\r\n\r\n",          # leading space
    b"5\nhello\r\n0\r\n\r\n",             # bare LF
    b"5\r\nhelloXX0\r\n\r\n",             # data not followed by CRLF
    b"5;\x01\r\nhello\r\n0\r\n\r\n",      # control char in extension
    b"1" * 17 + b"\r\n",                  # size over 64 bits
    b"5;" + b"x" * 5000 + b"\r\n",        # unbounded extension
    b"0\r\nbad trailer\r\n\r\n",          # trailer without colon
])
def test_malformed_chunked_body_is_400(conn: Conn, raw: bytes, error_log) -> None:
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=raw)
    handler = make_handler(echo, error_log)
    assert handler.handle(item) == (False, b"")
    resp = conn.response()
    assert resp.status == 400
    assert resp.get("connection") == "close"
    # the worker keeps serving
    assert handler.handle(make_item(conn.fd)) == (True, b"")


def test_body_ending_early_is_400(conn: Conn) -> None:
    conn.client.sendall(b"abc")
    conn.client.shutdown(socket.SHUT_WR)
    item = make_item(conn.fd, method=b"POST", content_length=10, data=b"12")
    assert make_handler(echo).handle(item) == (False, b"")
    assert conn.response().status == 400


def test_bad_body_caught_by_app_still_closes(conn: Conn) -> None:
    def app(environ, start_response):
        with contextlib.suppress(BadBody):
            environ["wsgi.input"].read()
        return hello(environ, start_response)

    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=b"q\r\n")
    assert make_handler(app).handle(item) == (False, b"")
    resp = conn.response()
    assert resp.status == 200 and resp.get("connection") == "close"


def test_100_continue_sent_when_app_reads(conn: Conn) -> None:
    conn.client.sendall(b"hello")
    item = make_item(conn.fd, method=b"POST", flags=H11 | EXPECT_CONTINUE, content_length=5,
                     headers=[(b"host", b"t"), (b"expect", b"100-continue")])
    assert make_handler(echo).handle(item) == (True, b"")
    cont, final = conn.responses()
    assert (cont.status, cont.reason, cont.headers) == (100, "Continue", [])
    assert final.status == 200 and final.body == b"hello"


def test_100_continue_not_sent_when_app_does_not_read(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", flags=H11 | EXPECT_CONTINUE, content_length=5)
    assert make_handler(hello).handle(item) == (False, b"")
    resp = conn.response()  # exactly one response: no 100
    assert resp.status == 200
    assert resp.get("connection") == "close"


def test_unread_small_body_is_drained(conn: Conn) -> None:
    conn.client.sendall(b"56789GET /next")
    item = make_item(conn.fd, method=b"POST", content_length=10, data=b"01234")
    assert make_handler(hello).handle(item) == (True, b"")
    # the drain read the body's end from the socket and not one byte more
    assert conn.server.recv(100, socket.MSG_DONTWAIT) == b"GET /next"


def test_unread_body_drained_then_leftover(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", content_length=4,
                     data=b"abcdGET /2 HTTP/1.1\r\n\r\n")
    assert make_handler(hello).handle(item) == (True, b"GET /2 HTTP/1.1\r\n\r\n")


def test_unread_body_over_drain_limit_closes(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", content_length=10_000, data=b"x" * 100)
    handler = make_handler(hello, max_drain=1000)
    assert handler.handle(item) == (False, b"")
    assert conn.response().get("connection") == "close"


def test_unread_chunked_body_over_drain_limit_closes(conn: Conn) -> None:
    body = chunked(b"x" * 3000)
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=body)
    assert make_handler(hello, max_drain=1000).handle(item) == (False, b"")
    assert make_handler(hello, max_drain=5000).handle(
        make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=body)) == (True, b"")


def test_read_timeout_closes_quietly(conn: Conn, error_log) -> None:
    conn.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, b"\x00" * 8 + b"\x20\xa1\x07\x00"
                           + b"\x00" * 4)  # 0.5 s
    item = make_item(conn.fd, method=b"POST", content_length=10, data=b"abc")
    assert make_handler(echo, error_log).handle(item) == (False, b"")
    assert conn.read_all() == b""  # nothing to say to a client that went silent


# -- pipelining -------------------------------------------------------------------


def test_leftover_of_bodiless_request(conn: Conn) -> None:
    nxt = b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
    assert make_handler(hello).handle(make_item(conn.fd, data=nxt)) == (True, nxt)


def test_leftover_after_content_length_body(conn: Conn) -> None:
    nxt = b"GET /b HTTP/1.1\r\n\r\n"
    item = make_item(conn.fd, method=b"POST", content_length=3, data=b"abc" + nxt)
    assert make_handler(echo).handle(item) == (True, nxt)
    assert conn.response().body == b"abc"


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


# -- errors ------------------------------------------------------------------------


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


# -- file_wrapper -------------------------------------------------------------------


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


# -- draining, logs -----------------------------------------------------------------


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
