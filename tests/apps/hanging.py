"""A WSGI app whose routes hang, for the --timeout tests.

Runs in: a worker of the server under test (any kind).

- ``/`` answers ``{"pid", "interpreter", "thread"}``;
- ``/spin`` loops in Python forever (an asynchronous exception stops it);
- ``/sleep`` sleeps an hour in C (no exception reaches it);
- ``/trickle`` streams 6 chunks 0.4 s apart: slow, but always progressing.
"""

from __future__ import annotations

import time

from whoami import whoami_response


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
    return whoami_response(start_response)


def trickle():
    for n in range(6):
        time.sleep(0.4)
        yield b"chunk %d\n" % n
