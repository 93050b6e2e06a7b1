"""The queue item and its head record, as fixed in docs/internals.md.

Runs in: main and worker interpreters.

An item is the tuple ``(fd, flags, content_length, record, data)`` the C
engine hands a worker. Its flag bits and the stop item's fd are the C
module's own constants, read here, never copied.

The record is the parsed request head as one NUL-separated byte string::

    method \\0 target \\0 remote_addr \\0 remote_port \\0 server_addr \\0 server_port
    (\\0 name \\0 value)*

NUL cannot occur inside a part (the C parser refuses it), so one
``split`` recovers every part. Text is carried as latin-1 ``str``: it maps
each byte to one code point, which is what PEP 3333 calls a native string.
The hot paths (``wsgi.environ``, ``asgi.cycle``) split the record inline
at these positions.
"""

from __future__ import annotations

from subserve import _engine

Item = tuple[int, int, int, bytes, bytes]

# Flag bits of an item (SS_F_* in ext/http_parse.h).
KEEP_ALIVE: int = _engine.F_KEEP_ALIVE
CHUNKED: int = _engine.F_CHUNKED
EXPECT_CONTINUE: int = _engine.F_EXPECT_CONTINUE
UPGRADE: int = _engine.F_UPGRADE
HTTP11: int = _engine.F_HTTP11

STOP_FD: int = _engine.STOP_FD

# Positions of the fixed parts after split(); fields start at FIELDS.
METHOD = 0
TARGET = 1
REMOTE_ADDR = 2
REMOTE_PORT = 3
SERVER_ADDR = 4
SERVER_PORT = 5
FIELDS = 6


def is_stop(item: Item) -> bool:
    """Whether ``item`` tells the worker thread that takes it to end
    (``Queue.put_stop`` puts them)."""
    return item[0] == STOP_FD


def split(record: bytes) -> list[str]:
    """Return the record's parts as latin-1 strings (fields from FIELDS on)."""
    return record.decode("latin-1").split("\0")


def fields(parts: list[str]) -> list[tuple[str, str]]:
    """Pair up the (name, value) fields of a split record, in order."""
    it = iter(parts[FIELDS:])
    return list(zip(it, it, strict=True))
