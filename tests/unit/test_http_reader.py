"""The suite's response reader (helpers.http) on hand-written wire bytes.

Runs in: the test process (a socketpair stands in for a connection).
"""

from __future__ import annotations

import socket

import h11
import pytest
from helpers.http import Headers, ResponseReader, read_responses

HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Dup: a\r\nx-dup: b\r\n\r\nhello"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n")


def test_pipelined_responses_off_a_socket_one_byte_at_a_time() -> None:
    server, client = socket.socketpair()
    with server, client:
        server.sendall(HELLO + CHUNKED)
        reader = ResponseReader(client, recv_size=1)
        first = reader.read()
        assert (first.version, first.status, first.reason, first.body) == (
            "HTTP/1.1", 200, "OK", b"hello")
        assert reader.pending == b""  # nothing read past the first response
        second = reader.read()
        assert second.body == b"abcde" and second.trailers == [("X-Sum", "9")]
        assert reader.pending == b""


def test_bytes_past_a_response_are_kept_and_shown() -> None:
    server, client = socket.socketpair()
    with server, client:
        server.sendall(HELLO + CHUNKED[:20])
        reader = ResponseReader(client)
        assert reader.read().body == b"hello"
        assert reader.pending == CHUNKED[:20]
        server.sendall(CHUNKED[20:])
        assert reader.read().body == b"abcde"


def test_headers_keep_order_and_case_and_look_up_without_case() -> None:
    (response,) = read_responses(HELLO)
    assert response.headers == [("Content-Length", "5"), ("X-Dup", "a"), ("x-dup", "b")]
    assert response.headers["X-DUP"] == "a, b" and response.get("x-dup") == "a, b"
    assert response.headers.getall("x-dup") == ["a", "b"]
    assert "content-length" in response.headers and "server" not in response.headers
    assert response.get("server") is None
    with pytest.raises(KeyError):
        response.headers["server"]
    assert Headers([("A", "1")]) != [("a", "1")]  # equality is on the wire form


def test_head_response_has_no_body_and_the_next_one_follows() -> None:
    head_only = HELLO[: HELLO.index(b"\r\n\r\n") + 4]
    reader = ResponseReader(head_only + HELLO)
    head = reader.read("HEAD")
    assert head.body == b"" and head.get("content-length") == "5"
    assert reader.read("GET").body == b"hello"
    with pytest.raises(h11.RemoteProtocolError):
        read_responses(head_only + HELLO)  # as a GET, the next head would be its body


def test_interim_100_continue_then_the_final_response() -> None:
    cont, final = read_responses(b"HTTP/1.1 100 Continue\r\n\r\n" + HELLO, "POST")
    assert cont.interim and (cont.status, cont.reason, cont.headers) == (100, "Continue", [])
    assert not final.interim and final.body == b"hello"
    reader = ResponseReader(b"HTTP/1.1 100 Continue\r\n\r\n" + HELLO)
    assert reader.read("POST").interim and reader.waiting_final
    with pytest.raises(AssertionError, match="answers"):
        reader.read("GET")  # the final response belongs to the POST


def test_http10_close_delimited_body_and_persistence() -> None:
    reader = ResponseReader(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end")
    assert reader.read("GET", "1.0").body == b"to the end"
    with pytest.raises(AssertionError, match="closed the connection"):
        reader.read()
    kept = HELLO.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n", 1)
    assert len(read_responses(kept * 2, "GET", "1.0")) == 2
    with pytest.raises(AssertionError, match="closed the connection"):
        read_responses(HELLO * 2, "GET", "1.0")  # no keep-alive: HTTP/1.0 closes
    with pytest.raises(AssertionError, match="chunked response to an HTTP/1.0 request"):
        read_responses(CHUNKED, "GET", "1.0")


def test_connection_close_ends_the_exchanges() -> None:
    closing = HELLO.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    with pytest.raises(AssertionError, match="closed the connection"):
        read_responses(closing + HELLO)


def test_cut_short_responses_are_errors() -> None:
    with pytest.raises(h11.RemoteProtocolError):
        read_responses(CHUNKED[:-5])  # no last chunk: an aborted response
    with pytest.raises(h11.RemoteProtocolError):
        read_responses(HELLO[:-1])
    assert read_responses(b"") == []
