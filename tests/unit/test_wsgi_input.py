"""WSGIHandler and the request body: wsgi.input over Content-Length and chunked
bodies, 100 Continue, draining what the app left unread, pipelined leftovers.

Runs in: the test process. The handler serves hand-built queue items over a
socketpair (helpers.conn); the client end feeds the rest of a body.
"""

from __future__ import annotations

import contextlib
import socket

import pytest
from helpers.conn import Conn
from helpers.items import H11, make_item
from helpers.wsgi import chunked, echo, hello, make_handler

from subserve.errors import BadBody
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE


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


def test_leftover_of_bodiless_request(conn: Conn) -> None:
    nxt = b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
    assert make_handler(hello).handle(make_item(conn.fd, data=nxt)) == (True, nxt)


def test_leftover_after_content_length_body(conn: Conn) -> None:
    nxt = b"GET /b HTTP/1.1\r\n\r\n"
    item = make_item(conn.fd, method=b"POST", content_length=3, data=b"abc" + nxt)
    assert make_handler(echo).handle(item) == (True, nxt)
    assert conn.response().body == b"abc"


# -- --limit-request-body ------------------------------------------------------


def test_chunked_body_over_the_limit_is_413_and_closes(conn: Conn, error_log) -> None:
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.input"].read())  # raises: the app's read fails
        return hello(environ, start_response)

    conn.client.sendall(chunked(b"y" * 10))
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=b"a\r\n" + b"x" * 10 + b"\r\n")
    handler = make_handler(app, error_log, limit_request_body=15)
    assert handler.handle(item) == (False, b"")
    resp = conn.response()
    assert resp.status == 413 and resp.get("connection") == "close"
    assert seen == []
    assert "request body too large" in error_log[1].messages()[-1]


def test_chunked_body_over_the_limit_unread_by_the_app_closes(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED, data=chunked(b"x" * 20))
    assert make_handler(hello, limit_request_body=10).handle(item) == (False, b"")
    assert conn.response().status == 200  # the app answered; the rest is not drained


def test_chunked_body_up_to_the_limit_is_served(conn: Conn) -> None:
    item = make_item(conn.fd, method=b"POST", flags=H11 | CHUNKED,
                     data=chunked(b"x" * 6, b"y" * 4) + b"NEXT")
    assert make_handler(echo, limit_request_body=10).handle(item) == (True, b"NEXT")
    assert conn.response().body == b"x" * 6 + b"y" * 4
