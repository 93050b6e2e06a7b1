"""One serving process's engine, queue and worker pool, from boot to teardown.

Runs in: the main interpreter. It does no per-request work: requests go from
the C I/O thread through the queue to the workers without touching main's
GIL (in the thread kind the workers run in this very interpreter, but on
threads of their own).

A ``Serving`` runs the ``interpreter`` kind (``--workers`` OWN_GIL
subinterpreters) or the ``thread`` kind (one worker in the main
interpreter, ``--threads`` threads or one event loop); the ``process`` kind
runs one thread-kind ``Serving`` in each forked process
(``supervisor.processes``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

from subserve import _engine
from subserve import log as logs
from subserve.config import Config
from subserve.errors import EXIT_OK, EXIT_STOP_FAILED
from subserve.handoff.report import LoadFailure
from subserve.handoff.signals import RENEW, THREAD_LOST
from subserve.supervisor.fallback import INTERPRETER, THREAD
from subserve.supervisor.limits import describe_fd_limit

log = logging.getLogger(logs.ERROR)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}
HANDLED_SIGNALS = STOP_SIGNALS | {signal.SIGHUP, THREAD_LOST}
# How often the supervisor looks at worker health while waiting for signals.
SUPERVISE_INTERVAL = 1.0
# A busy count no engine reaches: one accept per wake-up, never a pause.
NEVER_FULL = 1 << 40
# Seconds workers always get to end their interpreter once told to stop.
WORKER_EXIT_GRACE = 2.0



def ready_line(kind: str, config: Config, count: int, seconds: float, urls: list[str]) -> str:
    """The line that says the server serves: '2 interpreters ready in 0.1 s,
    listening on http://...', with what runs the app for the other kinds."""
    threads = f"{config.threads} thread{'' if config.threads == 1 else 's'} or one event loop"
    if kind == INTERPRETER:
        what, detail = f"{count} interpreter{'' if count == 1 else 's'}", ""
    elif kind == THREAD:
        what, detail = "the main interpreter", f" (worker kind thread: {threads})"
    else:
        what = f"{count} worker process{'' if count == 1 else 'es'}"
        detail = f" (worker kind process, {threads} each)"
    return f"{what} ready in {seconds:.1f} s{detail}, listening on {', '.join(urls)}"


class Serving:
    """The engine and workers of one process: ``boot``, ``start``,
    ``supervise``, ``graceful_stop``, and always ``teardown``.

    The engine accepts on duplicates of ``listeners``; the sockets
    themselves stay the caller's until a graceful stop closes them, so a
    boot that failed leaves them open for another attempt.
    """

    def __init__(self, config: Config, listeners: list[socket.socket], kind: str, *,
                 first_index: int = 0, supervised: bool = False) -> None:
        if kind not in (INTERPRETER, THREAD):
            raise ValueError(f"a serving process runs interpreter or thread workers, not {kind}")
        self.config = config
        self.listeners = listeners
        self.kind = kind
        self.first_index = first_index
        self.supervised = supervised   # a supervisor starts a successor when capacity is lost
        self.workers = config.workers if kind == INTERPRETER else 1
        self.queue: _engine.Queue | None = None
        self.engine: _engine.Engine | None = None
        self.pool: _engine.Pool | None = None
        self.interface = ""   # what the workers serve, once ready: "wsgi" or "asgi"
        self.stop_deadline: float | None = None
        self.fd_limit_episodes = 0  # the engine's count, as last logged

    # -- boot -------------------------------------------------------------------

    def boot(self) -> LoadFailure | None:
        """Start the engine (not yet accepting) and the workers; None once every
        worker loaded the app, else why one could not."""
        cfg = self.config
        # one consumer group per interpreter: a put wakes a thread of the
        # interpreter with the fewest threads running (the GIL they share)
        self.queue = _engine.queue_create(cfg.queue_capacity, groups=self.workers)
        fds = [os.dup(sock.fileno()) for sock in self.listeners]  # the engine owns these
        try:
            self.engine = _engine.engine_create(
                fds, self.queue.id,
                keepalive=cfg.keepalive, header_timeout=cfg.header_timeout,
                client_timeout=cfg.client_timeout, max_line=cfg.limit_request_line,
                max_head=cfg.limit_request_head, max_fields=cfg.limit_request_fields,
                max_field=cfg.limit_request_field_size, max_body=cfg.limit_request_body)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        settings = cfg.worker_settings(self.queue.id, self.engine.id, kind=self.kind,
                                       first_index=self.first_index,
                                       supervised=self.supervised)
        self.pool = _engine.pool_start(settings.bootstrap_program(), self.workers,
                                       main_interpreter=self.kind == THREAD)
        return self._wait_for_workers()

    def _wait_for_workers(self) -> LoadFailure | None:
        deadline = time.monotonic() + self.config.boot_timeout
        while True:
            statuses = self.pool.wait(0.25)
            failed = [msg for state, _loaded, msg in statuses if state in
                      (_engine.WORKER_FAILED, _engine.WORKER_EXITED)]
            if failed:
                return LoadFailure.decode(failed[0])
            if all(state == _engine.WORKER_READY for state, _, _ in statuses):
                self.interface = statuses[0][2] or ""  # a ready worker's report says it
                return None
            if pending_stop() is not None:
                return LoadFailure("stopped by a signal while loading the app")
            if time.monotonic() > deadline:
                return LoadFailure(f"the app did not load within {self.config.boot_timeout:.0f} s")

    def start(self, *, share_listeners: bool = False) -> None:
        """Accept connections from now on. ``share_listeners``: engines of other
        processes accept on the same sockets (the process kind). Each then
        accepts one connection per wake-up, so that a burst spreads over the
        processes instead of going to whichever woke first (seen: all 64 of
        wrk's connections in one of two), and a WSGI process whose threads
        are all busy leaves new connections to the others (an ASGI loop
        takes many at once: it is never full)."""
        if share_listeners:
            self.engine.limit_accepting(self.config.threads if self.interface == "wsgi"
                                        else NEVER_FULL)
        self.engine.start()

    # -- serving ------------------------------------------------------------------

    def supervise(self) -> int | None:
        """Wait for a stop signal; None if every worker died first.

        Under a supervisor, a process that loses capacity (a worker died, a
        watchdog lost a thread to a request blocked in C) stops accepting,
        asks the supervisor for a successor (``RENEW``), and finishes what
        it has until the supervisor stops it, once the successor is ready;
        connections wait in the backlog meanwhile."""
        renewing = False
        known_dead: set[int] = set()
        while True:
            info = signal.sigtimedwait(HANDLED_SIGNALS, SUPERVISE_INTERVAL)
            if info is not None and info.si_signo in STOP_SIGNALS:
                return info.si_signo
            lost = info is not None and info.si_signo == THREAD_LOST
            if info is not None and not lost:
                log.info("received %s: ignored (a reload needs the supervisor: this server "
                         "runs with --no-supervisor)" if not self.supervised else
                         "received %s: ignored (the supervisor reloads)",
                         signal.Signals(info.si_signo).name)
            self.note_fd_limit()
            statuses = self.pool.wait(0)
            dead = {i for i, (state, _, _) in enumerate(statuses) if state == _engine.WORKER_EXITED}
            for i in sorted(dead - known_dead):
                log.error("worker %d exited: %s", self.first_index + i,
                          statuses[i][2] or "(no message)")
            if len(dead) == len(statuses):
                return None
            if (lost or dead - known_dead) and not renewing:
                renewing = self._renew("a worker exited" if dead - known_dead
                                       else "a thread is stuck in a request")
            known_dead = dead

    def _renew(self, why: str) -> bool:
        """Ask the supervisor for a successor; whether one was asked for."""
        if not self.supervised:
            log.error("%s: serving on with less capacity (the supervisor would start a "
                      "successor; this server runs with --no-supervisor)", why)
            return False
        log.warning("%s: asking the supervisor for a successor", why)
        self.engine.drain()  # new connections wait in the backlog for the successor
        os.kill(os.getppid(), RENEW)
        return True

    def note_fd_limit(self) -> None:
        """Log once per episode of the engine running out of fds in accept.
        The engine thread runs no Python and logs nothing; it counts
        episodes (``Engine.stats()``), and this loop, awake every
        SUPERVISE_INTERVAL anyway, reports new ones."""
        stats = self.engine.stats()
        if stats["fd_limit_episodes"] > self.fd_limit_episodes:
            self.fd_limit_episodes = stats["fd_limit_episodes"]
            log.warning("%s", describe_fd_limit(stats))

    def graceful_stop(self) -> int:
        """Stop accepting, let the requests in flight finish within
        --graceful-timeout; the exit code."""
        cfg = self.config
        self.stop_deadline = time.monotonic() + cfg.graceful_timeout
        self.close_listeners()
        self.engine.drain()
        busy = self.engine.wait_idle(cfg.graceful_timeout)
        if busy:
            log.warning("%d request(s) still running after %g s", busy, cfg.graceful_timeout)
            return EXIT_STOP_FAILED
        return EXIT_OK

    def close_listeners(self) -> None:
        """Close the listening sockets: with the engine's duplicates closed by
        its drain, connecting is refused from then on."""
        for sock in self.listeners:
            sock.close()

    # -- teardown -------------------------------------------------------------------

    def _join_timeout(self) -> float:
        """How long workers get to end: what is left of the graceful stop's
        budget (a stuck request must not double it: orchestrators kill soon
        after it), but always a moment for lifespan shutdown and cleanup."""
        if self.stop_deadline is None:
            return max(self.config.graceful_timeout, WORKER_EXIT_GRACE)
        return max(self.stop_deadline - time.monotonic(), WORKER_EXIT_GRACE)

    def teardown(self) -> None:
        """Stop and join every worker before finalization, on every path:
        exiting with live subinterpreters (or with threads of the pool still
        in the main interpreter) crashes CPython (docs/design.md).

        The order is the polite one (workers first, then what they use), but
        not what keeps memory safe: every handle holds a reference, so a
        destroy in another order gives the workers errors, never a crash."""
        if self.engine is not None:
            self.engine.drain()
        if self.pool is not None:
            # one stop item for every worker thread
            self.queue.put_stop(self.workers * self.config.threads)
            running = self.pool.join(self._join_timeout())
            if running:
                log.error("%d worker%s did not stop; exiting hard", running,
                          " interpreter(s)" if self.kind == INTERPRETER else "(s)")
                logging.shutdown()
                os._exit(EXIT_STOP_FAILED)
            self.pool.destroy()
        if self.engine is not None:
            self.engine.destroy()
        if self.queue is not None:
            self.queue.destroy()
        self.engine = self.pool = self.queue = None


def pending_stop() -> int | None:
    """A stop signal that arrived (taken), or None; never waits."""
    info = signal.sigtimedwait(STOP_SIGNALS, 0)
    return info.si_signo if info is not None else None
