"""The queue item's flag bits and head record, as fixed in docs/internals.md.

Runs in: main and worker interpreters.

The record is the parsed request head as one NUL-separated byte string::

    method \\0 target \\0 remote_addr \\0 remote_port \\0 server_addr \\0 server_port
    (\\0 name \\0 value)*

NUL cannot occur inside a part (the C parser refuses it), so one
``split`` recovers every part.  Text is carried as latin-1 ``str``: it maps
each byte to one code point, which is what PEP 3333 calls a native string.
"""

from __future__ import annotations

from collections.abc import Iterable

# Flag bits of the queue item (mirrors SS_F_* in ext/http_parse.h).
KEEP_ALIVE = 1
CHUNKED = 2
EXPECT_CONTINUE = 4
UPGRADE = 8
HTTP11 = 16

# Positions of the fixed parts after split(); fields start at FIELDS.
METHOD = 0
TARGET = 1
REMOTE_ADDR = 2
REMOTE_PORT = 3
SERVER_ADDR = 4
SERVER_PORT = 5
FIELDS = 6


def split(record: bytes) -> list[str]:
    """Return the record's parts as latin-1 strings (fields from FIELDS on)."""
    return record.decode("latin-1").split("\0")


def fields(parts: list[str]) -> list[tuple[str, str]]:
    """Pair up the (name, value) fields of a split record, in order."""
    it = iter(parts[FIELDS:])
    return list(zip(it, it, strict=True))


def build(
    method: bytes,
    target: bytes,
    remote: tuple[str, str | int] = ("", ""),
    server: tuple[str, str | int] = ("", ""),
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """Make a record, as the C parser would (for tests and Python producers).

    Field names are lower-cased here, as the parser does; values are kept.
    """
    parts = [
        method,
        target,
        str(remote[0]).encode("latin-1"),
        str(remote[1]).encode("latin-1"),
        str(server[0]).encode("latin-1"),
        str(server[1]).encode("latin-1"),
    ]
    for name, value in headers:
        parts.append(name.lower())
        parts.append(value)
    if any(b"\0" in part for part in parts):
        raise ValueError("NUL cannot appear in a head record")
    return b"\0".join(parts)
