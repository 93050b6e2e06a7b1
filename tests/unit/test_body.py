"""The sans-I/O request-body decoder (subserve.http.body): chunked and sized.

Runs in: the test process.
"""

from __future__ import annotations

import pytest

from subserve.errors import BadBody, BodyTooLarge
from subserve.http.body import BodyDecoder


def test_body_decoder_chunked_incremental() -> None:
    wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n"
    dec = BodyDecoder(True, -1)
    got = []
    for i in range(len(wire)):  # one byte at a time: every state boundary
        dec.feed(wire[i:i + 1])
        got.append(dec.read(1 << 16))
    assert b"".join(got) == b"hello world"
    assert dec.done and dec.leftover() == b"GET / HTTP/1.1\r\n"


def test_body_decoder_length_and_errors() -> None:
    dec = BodyDecoder(False, 5, b"abc")
    assert dec.read(100) == b"abc" and not dec.done and dec.remaining_hint() == 2
    dec.feed(b"deNEXT")
    assert dec.read(100) == b"de" and dec.done and dec.leftover() == b"NEXT"
    with pytest.raises(BadBody):
        BodyDecoder(True, -1, b"zz\r\n").read(10)
    with pytest.raises(BadBody):
        BodyDecoder(True, -1, b"2\r\nabXX").read(10)


# -- --limit-request-body ------------------------------------------------------


def test_body_decoder_limit_allows_a_body_up_to_it() -> None:
    wire = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"
    dec = BodyDecoder(True, -1, wire, limit=10)
    assert dec.read(100) == b"helloworld" and dec.done


def test_body_decoder_limit_stops_before_the_chunk_that_crosses_it() -> None:
    # the chunk's size line is enough: none of its bytes reach the app
    dec = BodyDecoder(True, -1, b"5\r\nhello\r\n6\r\n", limit=10)
    assert dec.read(5) == b"hello"
    with pytest.raises(BodyTooLarge) as info:
        dec.read(100)
    assert isinstance(info.value, BadBody) and info.value.status_hint == 413


def test_body_decoder_limit_counts_across_feeds_one_byte_at_a_time() -> None:
    wire = b"3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n"
    dec = BodyDecoder(True, -1, limit=8)
    got = b""
    with pytest.raises(BodyTooLarge):
        for i in range(len(wire)):
            dec.feed(wire[i:i + 1])
            got += dec.read(1 << 16)
    assert got == b"abcdef"  # never more than the limit


def test_body_decoder_huge_chunk_size_is_refused_at_once() -> None:
    with pytest.raises(BodyTooLarge):
        BodyDecoder(True, -1, b"ffffffff\r\n", limit=1 << 20).read(10)


def test_body_decoder_without_limit_or_for_a_length() -> None:
    assert BodyDecoder(True, -1, b"ffff\r\n" + b"x" * 100).read(200) == b"x" * 100
    # a Content-Length over the limit is the engine's to refuse (413 at the door)
    assert BodyDecoder(False, 20, b"x" * 20, limit=10).read(100) == b"x" * 20
