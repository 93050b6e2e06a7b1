"""The ASGI side of a worker interpreter: one asyncio loop serving many connections.

Runs in: worker interpreters, on the thread the pool created (uvloop cannot
load in a subinterpreter; the stdlib loop can).

The loop watches the queue's wake-up eventfd.  That fd is shared by every
interpreter: whoever reads it first resets it, and the others find EAGAIN,
which is normal.  After a wake-up we take at most ``BATCH`` items and
signal the eventfd again if we stopped early, so one busy interpreter does
not leave the rest idle.  The fd is never closed here: the queue owns it.

Order of a worker's life: lifespan startup, report to main (the failure
message of a startup that failed), serve, and on the stop item:
finish the connections in flight, lifespan shutdown, close the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from subserve import _engine
from subserve import log as logs
from subserve.asgi.connections import Connections
from subserve.asgi.lifespan import Lifespan
from subserve.asgi.server import HTTPServer
from subserve.asgi.types import ASGIApp
from subserve.errors import LifespanFailed
from subserve.handoff.item import is_stop
from subserve.handoff.settings import WorkerSettings
from subserve.worker.accesslog import AccessLog

log = logging.getLogger(logs.ERROR)

BATCH = 16            # items taken per wake-up before giving others a turn
STOP_GRACE = 0.5      # seconds in-flight requests get after the stop item


class QueueReader:
    """Moves queue items onto the loop as connection tasks."""

    def __init__(self, connections: Connections, queue: _engine.Queue) -> None:
        self.connections = connections
        self.queue = queue
        self.wake_fd = queue.wakeup_fd()
        self.loop = connections.loop
        self.stopped: asyncio.Future[None] = self.loop.create_future()

    def start(self) -> None:
        self.loop.add_reader(self.wake_fd, self._on_wake)
        self._on_wake()  # items put before we watched the fd

    def _on_wake(self) -> None:
        # EAGAIN: another interpreter took this wake-up first
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.wake_fd)
        for _ in range(BATCH):
            try:
                item = self.queue.get_nowait()
            except _engine.QueueEmpty:
                return
            if is_stop(item):
                self._stop()
                return
            self.connections.serve(item)
            if not len(self.queue):
                # as good as QueueEmpty without raising it: a put from now on
                # finds the queue empty and signals the eventfd again
                return
        os.eventfd_write(self.wake_fd, 1)  # more may be waiting: let anyone take them

    def _stop(self) -> None:
        self.loop.remove_reader(self.wake_fd)
        self.connections.close()
        # other interpreters have stop items of their own in the queue
        os.eventfd_write(self.wake_fd, 1)
        if not self.stopped.done():
            self.stopped.set_result(None)


async def main(app: ASGIApp, settings: WorkerSettings, report: Callable[[bool, str], None],
               access_log: AccessLog | None, queue: _engine.Queue,
               engine: _engine.Engine) -> None:
    """Lifespan startup, report, serve until the stop item, shutdown."""
    life = Lifespan(app, settings.lifespan)
    try:
        await life.startup()
    except LifespanFailed as exc:
        report(False, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - every failure must reach main
        report(False, f"ASGI lifespan startup failed: {type(exc).__name__}: {exc}")
        return
    server = HTTPServer(app, settings, engine=engine, access_log=access_log, error_log=log,
                        state=life.state)
    connections = Connections(server)
    reader = QueueReader(connections, queue)
    report(True, "asgi")  # ready: and the interface it serves
    reader.start()
    await reader.stopped
    await connections.wait_idle(STOP_GRACE)
    server.flush_access()
    await life.shutdown()


def run_asgi(app: ASGIApp, settings: WorkerSettings, report: Callable[[bool, str], None],
             access_log: AccessLog | None, queue: _engine.Queue, engine: _engine.Engine) -> None:
    """Run the interpreter's event loop until the worker is told to stop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main(app, settings, report, access_log, queue, engine))
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks the app left running, so closing the loop is quiet."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        log.debug("cancelled %d leftover task(s)", len(tasks))
