"""A WSGI app whose routes hang, for the --timeout tests.

Runs in: a worker of the server under test (any kind).

- ``/`` answers ``{"pid", "interpreter", "thread"}``;
- ``/spin`` loops in Python forever (an asynchronous exception stops it);
- ``/sleep`` sleeps an hour in C (no exception reaches it);
- ``/trickle`` streams 6 chunks 0.4 s apart: slow, but always progressing.
"""

from __future__ import annotations

import json
import os
import threading
import time

try:
    from _interpreters import get_current
except ImportError:  # pragma: no cover - every supported CPython has it
    def get_current():
        return (0,)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/spin":
        while True:
            pass
    if path == "/sleep":
        time.sleep(3600)
    if path == "/trickle":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return trickle()
    body = json.dumps({"pid": os.getpid(), "interpreter": int(get_current()[0]),
                       "thread": threading.get_ident()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def trickle():
    for n in range(6):
        time.sleep(0.4)
        yield b"chunk %d\n" % n
