"""Driving the load: one httpx AsyncClient per connection, all on one event loop.

Runs in: the load-testing client process. Each of the `-c` worker tasks owns
an AsyncClient limited to one connection, so the server really sees `-c`
connections (a single shared client would multiplex them through its pool
however it liked). With keep-alive off, each request gets a fresh connection
and says `Connection: close`.

Everything runs on one asyncio thread, so the client can use at most one CPU
core; `run()` measures that use so the report can say when it was the limit.
Install `sniffio` (the `load` extra does): without it httpcore retries a
failing `import sniffio` on every request, about a third of the client's CPU.
"""

from __future__ import annotations

import asyncio
import resource
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from subserve.loadtest.checks import Expectations, failure_kind
from subserve.loadtest.stats import ClientUsage, Recorder

USER_AGENT = "subserve-load"
TICK_S = 0.25


@dataclass(frozen=True)
class LoadPlan:
    """What to send, how hard and for how long; `cli` builds it from the options."""

    url: str
    connections: int = 16
    requests: int | None = None
    duration: float | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    keepalive: bool = True
    timeout: float = 10.0
    expect: Expectations = field(default_factory=Expectations)

    @property
    def workers(self) -> int:
        """No more connections than requests."""
        if self.requests is None:
            return self.connections
        return max(1, min(self.connections, self.requests))

    def describe(self) -> dict:
        """The plan as JSON-ready data for the report."""
        return {
            "url": self.url, "method": self.method, "connections": self.workers,
            "requests": self.requests, "duration_s": self.duration,
            "keepalive": self.keepalive, "timeout_s": self.timeout,
            "body_bytes": len(self.body or b""),
            "expect_status": self.expect.status, "expect_body_sha256": self.expect.body_sha256,
        }


class Tickets:
    """The `-n` budget, shared by the workers; unlimited when `total` is None.

    No lock: the workers are tasks on one event loop and `take` never awaits.
    """

    def __init__(self, total: int | None) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def make_client(plan: LoadPlan, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """One client, one connection; `tls` is shared because building one costs ~20 ms."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1 if plan.keepalive else 0)
    headers = {"User-Agent": USER_AGENT}
    if not plan.keepalive:
        headers["Connection"] = "close"
    return httpx.AsyncClient(limits=limits, timeout=plan.timeout, headers=headers,
                             verify=tls, trust_env=False)


async def send_one(client: httpx.AsyncClient, plan: LoadPlan, recorder: Recorder) -> None:
    """One request, timed from send to the last body byte, recorded either way."""
    started = time.perf_counter()
    try:
        response = await client.request(plan.method, plan.url, headers=list(plan.headers),
                                        content=plan.body)
    except (httpx.HTTPError, OSError) as exc:
        recorder.failure(failure_kind(exc))
        return
    latency = time.perf_counter() - started
    body = response.content
    recorder.response(response.status_code, latency, len(body),
                      plan.expect.mismatch(response.status_code, body))


async def worker(plan: LoadPlan, tickets: Tickets, recorder: Recorder, tls: ssl.SSLContext) -> None:
    async with make_client(plan, tls) as client:
        while tickets.take():
            await send_one(client, plan, recorder)


async def drive(plan: LoadPlan, recorder: Recorder) -> None:
    """Run the workers until the `-n` budget is spent or the `-d` deadline passes.

    At the deadline, requests still in flight are cancelled and not counted,
    so a stalled server cannot stretch the run beyond `-d`.
    """
    tickets = Tickets(plan.requests)
    tls = httpx.create_ssl_context()
    loop = asyncio.get_running_loop()
    deadline = None if plan.duration is None else loop.time() + plan.duration
    try:
        async with asyncio.timeout_at(deadline), asyncio.TaskGroup() as group:
            for _ in range(plan.workers):
                group.create_task(worker(plan, tickets, recorder, tls))
    except TimeoutError:
        pass


def _clock() -> tuple[float, float, float, float]:
    """(wall, process CPU, user, system) seconds, for measuring the client itself."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), time.process_time(), usage.ru_utime, usage.ru_stime


async def _tick(on_tick: Callable[[float], None], started: float) -> None:
    while True:
        await asyncio.sleep(TICK_S)
        on_tick(time.perf_counter() - started)


async def run(plan: LoadPlan, recorder: Recorder,
              on_tick: Callable[[float], None] | None = None) -> ClientUsage:
    """Drive the load into `recorder`; return the client's wall and CPU time.

    `on_tick(elapsed)` is called every TICK_S seconds (the progress bar).
    """
    before = _clock()
    ticker = asyncio.create_task(_tick(on_tick, before[0])) if on_tick else None
    try:
        await drive(plan, recorder)
    finally:
        if ticker:
            ticker.cancel()
    after = _clock()
    wall, cpu, user, system = (b - a for a, b in zip(before, after, strict=True))
    return ClientUsage(wall_s=wall, user_s=user, sys_s=system, cpu_s=cpu)
