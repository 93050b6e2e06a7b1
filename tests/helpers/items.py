"""Head records and queue items built by hand, as the C engine builds them.

Runs in: the test process (and bench's micro-benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable

from subserve.handoff.item import CHUNKED, HTTP11, KEEP_ALIVE

H11 = KEEP_ALIVE | HTTP11  # an HTTP/1.1 request that keeps the connection


def build_record(
    method: bytes,
    target: bytes,
    remote: tuple[str, str | int] = ("", ""),
    server: tuple[str, str | int] = ("", ""),
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """Make a record as the C parser would (docs/internals.md).

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


def make_item(
    fd: int,
    target: bytes = b"/",
    *,
    method: bytes = b"GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    flags: int = H11,
    content_length: int = -1,
    data: bytes = b"",
) -> tuple[int, int, int, bytes, bytes]:
    """A queue item as the engine builds it (docs/internals.md)."""
    if headers is None:
        headers = [(b"host", b"test")]
    if content_length >= 0:
        headers = [*headers, (b"content-length", str(content_length).encode())]
    if flags & CHUNKED:
        headers = [*headers, (b"transfer-encoding", b"chunked")]
    head = build_record(method, target, ("127.0.0.1", "40000"), ("127.0.0.1", "8000"), headers)
    return fd, flags, content_length, head, data
