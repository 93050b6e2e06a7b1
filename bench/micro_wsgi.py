"""Micro-benchmark of the WSGI hot path, in one interpreter, without the engine.

Runs in: a plain interpreter (``python bench/micro_wsgi.py [--profile] [-n N]``).

The WSGI twin of ``micro_asgi.py``: each request is a queue item served by
``WSGIHandler.handle`` over one end of a socketpair, the response read back
from the other end. What is measured is the Python cost of one request
(environ, start_response, response head, keep-alive decision), not the C
queue, the engine's parser or the network.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import socket
import time

from subserve.handoff import item as record
from subserve.wsgi.handler import WSGIHandler
from tests.helpers.items import build_record
from tests.helpers.settings import worker_settings

BODY = b"Hello, world!"
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def hello(environ, start_response):
    start_response("200 OK", list(HELLO_HEADERS))
    return [BODY]


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one,"
    yield b"two"


APPS = {"hello": (hello, b"GET", b""), "echo": (echo, b"POST", b"x" * 64),
        "stream": (stream, b"GET", b"")}


def run(app_name: str, n: int, profile: bool) -> float:
    app, method, body = APPS[app_name]
    handler = WSGIHandler(app, worker_settings(), access_log=None,
                          error_log=logging.getLogger("bench"), is_draining=lambda: False)
    a, b = socket.socketpair()
    headers = [(b"host", b"localhost:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if body:
        headers.append((b"content-length", b"%d" % len(body)))
    head = build_record(method, b"/", ("127.0.0.1", 40000), ("127.0.0.1", 8000), headers)
    item = (a.fileno(), record.HTTP11 | record.KEEP_ALIVE, len(body) if body else -1, head, body)
    handle, recv = handler.handle, b.recv
    prof = cProfile.Profile() if profile else None

    for _ in range(2000):  # warm the caches
        handle(item)
        recv(65536)
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    for _ in range(n):
        handle(item)
        recv(65536)
    elapsed = time.perf_counter() - t0
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    a.close()
    b.close()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--app", choices=sorted(APPS), default="hello")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [run(args.app, args.n, args.profile and i == 0)
            for i in range(1 if args.profile else args.repeat)]
    print(f"{args.app}: best {min(runs):.2f} us/request, "
          f"runs {' '.join(f'{r:.2f}' for r in runs)}")


if __name__ == "__main__":
    main()
