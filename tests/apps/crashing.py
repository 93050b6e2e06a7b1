"""A WSGI app whose routes crash the process or its worker, for the recovery tests.

Runs in: a worker of the server under test (any kind).

- ``/`` answers ``{"pid": ..., "interpreter": ...}``;
- ``/segfault`` reads address 0 (SIGSEGV);
- ``/abort`` calls abort() (SIGABRT);
- ``/exit`` calls ``os._exit(1)``;
- ``/systemexit`` raises SystemExit in the handler thread.
"""

from __future__ import annotations

import ctypes
import json
import os

try:
    from _interpreters import get_current
except ImportError:  # pragma: no cover - every supported CPython has it
    def get_current():
        return (0,)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/segfault":
        ctypes.string_at(0)
    elif path == "/abort":
        os.abort()
    elif path == "/exit":
        os._exit(1)
    elif path == "/systemexit":
        raise SystemExit(1)
    body = json.dumps({"pid": os.getpid(), "interpreter": int(get_current()[0])}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
