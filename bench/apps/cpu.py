"""WSGI app that burns ~2 ms of pure-Python CPU per request.

Runs in: the server under test (for subserve: each worker interpreter); the
driver imports it too, to calibrate once and to know the expected body.

The work holds the GIL for its whole duration, so only parallel interpreters
(or processes) can serve two such requests at once: this is the endpoint
that shows whether subserve's workers really run in parallel.

The iteration count comes from BENCH_CPU_ITERS when set: bench/run.py
calibrates once and passes the same count to every server, so all of them do
identical work. Without it, the module calibrates itself at import.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

ENV_ITERS = "BENCH_CPU_ITERS"
TARGET_SECONDS = 0.002


def spin(iterations: int) -> int:
    """A linear congruential generator run `iterations` times; returns its state.

    The result goes into the response body, so the loop's outcome is observable
    and the driver can check every server computed the same thing.
    """
    x = 1
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def _time_spin(iterations: int) -> float:
    start = time.perf_counter()
    spin(iterations)
    return time.perf_counter() - start


def calibrate(target_seconds: float = TARGET_SECONDS) -> int:
    """Return the iteration count that takes about `target_seconds` on this machine."""
    iterations = 10_000
    # Grow the sample until it runs for >= 20 ms, so timer resolution and
    # first-call effects are negligible against it.
    while _time_spin(iterations) < 0.02:
        iterations *= 2
    # Best of 5: the minimum is the run least disturbed by other processes.
    best = min(_time_spin(iterations) for _ in range(5))
    return max(1, round(iterations * target_seconds / best))


def body_for(iterations: int) -> bytes:
    return f"iterations={iterations} checksum={spin(iterations)}\n".encode()


ITERATIONS = int(os.environ.get(ENV_ITERS) or 0) or calibrate()


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    body = body_for(ITERATIONS)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
