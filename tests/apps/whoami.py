"""Who serves a request, for the test apps that answer it as JSON.

Runs in: a worker of the server under test (any kind).
"""

from __future__ import annotations

import json
import os
import threading
from _interpreters import get_current


def whoami_response(start_response) -> list[bytes]:
    """A 200 with ``{"pid", "interpreter", "thread"}`` of the serving thread."""
    body = json.dumps({"pid": os.getpid(), "interpreter": int(get_current()[0]),
                       "thread": threading.get_ident()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
