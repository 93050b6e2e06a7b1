"""The sans-I/O request-body decoder (subserve.http.body): chunked and sized.

Runs in: the test process.
"""

from __future__ import annotations

import pytest

from subserve.errors import BadBody
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
