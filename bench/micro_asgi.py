"""Micro-benchmark of the ASGI HTTP hot path, in one interpreter, without the engine.

Runs in: a plain interpreter (``python bench/micro_asgi.py [--profile] [-n N]``).

Each request is a queue item served as the worker serves it: an eager task
running ``asgi_connections.serve_connection`` over one end of a socketpair, the response read
back from the other end.  The engine is a stub, so what is
measured is the Python cost of the request cycle (scope, receive, send,
head, keep-alive decision), not the C queue or the network.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import socket
import time
import types

from subserve.asgi import connections as asgi_connections
from subserve.asgi import server as asgi
from subserve.handoff import item as record
from tests.helpers.items import build_record
from tests.helpers.settings import worker_settings

HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": HELLO_HEADERS})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo(scope, receive, send):
    message = await receive()
    body = message["body"]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


APPS = {"hello": (hello, b"GET", b""), "echo": (echo, b"POST", b"x" * 64)}


def _stub_engine(drain_fd: int) -> types.SimpleNamespace:
    """What serve_connection calls on the worker's bound Engine, doing nothing."""
    return types.SimpleNamespace(close_connection=lambda fd: None, park=lambda fd: None,
                                 next_request=lambda fd, data: None, draining=False,
                                 drain_fd=lambda: drain_fd)


async def run(app_name: str, n: int, profile: bool) -> float:
    app, method, body = APPS[app_name]
    drain_fd = os.eventfd(0)  # never signalled: no graceful stop here
    server = asgi.HTTPServer(app, worker_settings(), engine=_stub_engine(drain_fd),
                             access_log=None, error_log=asgi.logging.getLogger("bench"),
                             state={})
    conns = asgi_connections.Connections(server)
    a, b = socket.socketpair()
    headers = [(b"host", b"localhost:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if body:
        headers.append((b"content-length", b"%d" % len(body)))
    head = build_record(method, b"/", ("127.0.0.1", 40000), ("127.0.0.1", 8000), headers)
    flags = record.HTTP11 | record.KEEP_ALIVE
    item = (a.fileno(), flags, len(body) if body else -1, head, body)
    recv = b.recv
    prof = cProfile.Profile() if profile else None

    def one() -> None:
        # one request, then back to the (stub) engine: the cycle's own cost
        conns.serve(item, 1)
        assert not conns.tasks
        recv(65536)

    for _ in range(2000):  # warm the caches
        one()
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    for _ in range(n):
        one()
    elapsed = time.perf_counter() - t0
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    conns.close()
    os.close(drain_fd)
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
    runs = [asyncio.run(run(args.app, args.n, args.profile and i == 0))
            for i in range(1 if args.profile else args.repeat)]
    print(f"{args.app}: best {min(runs):.2f} us/request, "
          f"runs {' '.join(f'{r:.2f}' for r in runs)}")


if __name__ == "__main__":
    main()
