"""Head records and queue items built by hand, as the C engine builds them.

Runs in: the test process (and bench's micro-benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable


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
