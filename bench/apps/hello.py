"""Hello-world WSGI app: the smallest request, so the server's own cost dominates.

Runs in: the server under test (for subserve: each worker interpreter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

BODY = b"Hello, world!"
# Built once: the benchmark measures the server, not header construction.
_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", list(_HEADERS))
    return [BODY]
