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
import os

from whoami import whoami_response


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
    return whoami_response(start_response)
