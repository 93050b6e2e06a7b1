"""The connections of one ASGI loop: serving them, and keeping them between requests.

Runs in: worker interpreters, on the interpreter's asyncio loop.

A connection arrives as a queue item (see ``asgi.loop``) and is served by
``serve_connection``, one request cycle after another.  When a response
leaves the connection idle and reusable, the loop keeps it instead of
handing it back to the engine: handing back costs an epoll re-arm, a wake
of the I/O thread, a queue put and an eventfd wake of a loop, for every
keep-alive request.  Kept, the next request is read by the loop's own
reader callback and served from there.

The engine still owns a kept connection: it counts as busy there, and the
bytes read here go to ``Engine.next_request(fd, data)``, which parses them
with the engine's parser and limits and returns the next item, answers a
bad head with its 4xx, or parks a partial head under its header timeout.

Rules:

- One epoll registration per kept connection.  A request that completes
  without waiting leaves the reader registered, so a stream of keep-alive
  requests costs no epoll_ctl.  A cycle that waits may replace the reader
  with its own; the connection is watched again when the cycle ends.
- A connection is kept for at most ``STICKY_REQUESTS`` requests in a row,
  then goes back through the engine: the queue hands it to whichever loop
  is free, so a busy interpreter does not hold on to its clients for ever.
- Idle past ``keep_alive`` seconds, a kept connection is closed.  Each has
  one lazy timer that is re-armed only when it fires early, not a timer per
  request.
- On a graceful stop (the engine's drain fd turns readable), idle kept
  connections go back to the engine at once, none is kept any more, and
  open WebSockets are closed with 1001. The engine gives them a moment to
  deliver a request their client was already sending (answered with
  ``Connection: close``) before it closes them: closing them here would cut
  that request.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from subserve.asgi.cycle import HTTPCycle
from subserve.asgi.scope import websocket_scope
from subserve.asgi.server import HTTPServer
from subserve.handoff.item import UPGRADE, Item
from subserve.http.wire import READ_BLOCK as BLOCK

if TYPE_CHECKING:
    from subserve.asgi.websocket import WebSocketSession

STICKY_REQUESTS = 64   # requests in a row a loop serves on a kept connection


class Kept:
    """One connection this loop keeps: idle, or busy with a request."""

    __slots__ = ("fd", "busy", "left", "idle_since", "timer")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.busy = True
        self.left = 0
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None


class Connections:
    """Serves the connections of one loop (see the module docstring)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.loop = server.loop
        self.keep_alive = server.keep_alive
        self.kept: dict[int, Kept] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.dispatching: Kept | None = None  # the kept connection a reader callback is serving
        self.drain_fd = server.engine.drain_fd()
        self.loop.add_reader(self.drain_fd, self._on_drain)

    def serve(self, item: Item, left: int = STICKY_REQUESTS) -> None:
        """Serve a connection's request (and its successors) on this loop."""
        # eager: a request that never waits is served before this returns
        task = asyncio.Task(serve_connection(self, item, left), loop=self.loop, eager_start=True)
        if not task.done():
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # -- kept connections --------------------------------------------------------

    def keep(self, fd: int, left: int) -> None:
        """The response is over and the connection reusable: wait here for the next request."""
        conn = self.kept.get(fd)
        if conn is None:
            conn = self.kept[fd] = Kept(fd)
            conn.timer = self.loop.call_later(self.keep_alive, self._check_idle, conn)
            self.loop.add_reader(fd, self._on_readable, conn)
        elif conn is not self.dispatching:
            # the cycle waited, and may have replaced or removed our reader
            self.loop.add_reader(fd, self._on_readable, conn)
        conn.busy = False
        conn.left = left
        conn.idle_since = self.loop.time()

    def forget(self, fd: int) -> None:
        """The connection goes back to the engine: stop watching it first."""
        conn = self.kept.pop(fd, None)
        if conn is not None:
            conn.timer.cancel()
            self.loop.remove_reader(fd)

    def _on_readable(self, conn: Kept) -> None:
        fd = conn.fd
        if conn.busy:
            # pipelined bytes while a request is served: the cycle reads them
            self.loop.remove_reader(fd)
            return
        try:
            data = os.read(fd, BLOCK)  # the fd is blocking, but epoll said readable
        except OSError:
            data = b""
        if not data:
            self._let_go(conn)  # the client closed its keep-alive connection
            return
        conn.busy = True
        item = self.server.engine.next_request(fd, data)
        if item is None:
            # a partial head the engine completes, or a bad one it answered:
            # the connection is the engine's now (were the fd closed and
            # reused meanwhile, the kernel already dropped our registration)
            self.forget(fd)
            return
        self.dispatching = conn
        try:
            self.serve(item, conn.left)
        finally:
            self.dispatching = None

    def _check_idle(self, conn: Kept) -> None:
        if self.kept.get(conn.fd) is not conn:
            return
        rest = self.keep_alive if conn.busy else conn.idle_since + self.keep_alive - self.loop.time()
        if rest > 0:
            conn.timer = self.loop.call_later(rest, self._check_idle, conn)
        else:
            self._let_go(conn)

    def _let_go(self, conn: Kept) -> None:
        """Close an idle kept connection (through the engine, which owns it)."""
        self.forget(conn.fd)
        self.server.engine.close_connection(conn.fd)

    # -- stopping -------------------------------------------------------------------

    def _on_drain(self) -> None:
        """A graceful stop began: idle connections back to the engine (which
        lets them linger, see the module's docstring); close WebSockets."""
        self.loop.remove_reader(self.drain_fd)  # it stays readable: look once
        self.stop(linger=True)
        self.server.on_drain()

    def stop(self, *, linger: bool = False) -> None:
        """Keep no connection any more; idle ones are closed now, or handed
        back to the engine to linger."""
        self.stopping = True
        for conn in [c for c in self.kept.values() if not c.busy]:
            if linger:
                self.forget(conn.fd)
                self.server.engine.park(conn.fd)
            else:
                self._let_go(conn)

    def close(self) -> None:
        self.stop()
        self.loop.remove_reader(self.drain_fd)

    async def wait_idle(self, grace: float) -> None:
        """Let the connections still served here end, cancelling them after ``grace`` s."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        if self.tasks:
            self.server.error_log.warning("cancelling %d request(s) still running at stop",
                                          len(self.tasks))
            for task in list(self.tasks):
                task.cancel()
            await asyncio.wait(list(self.tasks), timeout=grace)


async def serve_connection(conns: Connections, item: Item, left: int) -> None:
    """Serve a connection's requests until it is kept idle or goes back to the engine.

    Whatever happens, the fd goes back to the engine exactly once, or is kept.
    """
    server = conns.server
    engine = server.engine
    while item is not None:
        fd = item[0]
        cycle = None
        try:
            cycle = HTTPCycle(server, item) if not item[1] & UPGRADE else upgrade_cycle(server, item)
            keep, leftover = await cycle.run()
        except asyncio.CancelledError:
            # the worker is stopping past the graceful timeout: drop the connection
            keep, leftover = False, b""
        except BaseException:
            server.error_log.exception("internal error while serving fd %d", fd)
            keep, leftover = False, b""
        if cycle is not None:
            cycle.close_io()
        left -= 1
        if keep and not leftover and left > 0 and not conns.stopping:
            conns.keep(fd, left)
            return
        conns.forget(fd)
        if not keep:
            engine.close_connection(fd)
            return
        if not leftover:
            engine.park(fd)  # back through the engine: any loop may take it next
            return
        item = engine.next_request(fd, leftover)  # None unless a whole pipelined head


def upgrade_cycle(server: HTTPServer, item: Item) -> HTTPCycle | WebSocketSession:
    """A WebSocket session for a WebSocket handshake, else a plain HTTP cycle
    (the app answers other upgrades as ordinary requests)."""
    scope = websocket_scope(server.template, item[1], item[3], server.state)
    if scope is None:
        return HTTPCycle(server, item)
    try:
        from subserve.asgi.websocket import WebSocketSession
    except ImportError as exc:  # wsproto missing: serve it as HTTP
        server.error_log.warning("WebSocket request served as HTTP: %s", exc)
        return HTTPCycle(server, item)
    return WebSocketSession(server, item, scope)
