"""WSGI app that sleeps 10 ms per request: an I/O-bound endpoint.

Runs in: the server under test (for subserve: each worker interpreter); the
driver imports it too, to know the expected body.

The sleep releases the GIL, so throughput here is set by how many requests a
server keeps in flight at once (workers x threads), not by CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

SECONDS = 0.010
BODY = b"slept 10 ms\n"
_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    time.sleep(SECONDS)
    start_response("200 OK", list(_HEADERS))
    return [BODY]
