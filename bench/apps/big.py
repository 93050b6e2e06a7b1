"""WSGI app answering a 64 KiB body: the cost of moving bytes, not of calling Python.

Runs in: the server under test (for subserve: each worker interpreter); the
driver imports it too, to know the expected body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

SIZE = 64 * 1024
# Printable and not one repeated byte, so a truncated or shifted body shows up
# in the driver's check.
BODY = (b"0123456789abcdef" * (SIZE // 16))[:SIZE]
_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(SIZE))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", list(_HEADERS))
    return [BODY]
