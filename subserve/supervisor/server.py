"""The supervisor: start the engine and the interpreter pool, wait, stop cleanly.

Runs in: the main interpreter. It does no per-request work: requests go from
the C I/O thread through the queue to the workers without touching main's GIL.

Exit codes (``subserve.errors``): 0 after a clean stop, 1 when a stop timed
out or workers died, 2 for a bad address, 3 when the app could not load in a
worker interpreter.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from subserve import _engine
from subserve import log as logs
from subserve.config import Config
from subserve.errors import EXIT_APP_LOAD, EXIT_BIND, EXIT_OK, EXIT_STOP_FAILED, BindError
from subserve.supervisor.listeners import describe, inherited_listener, open_listener

log = logging.getLogger(logs.ERROR)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}
HANDLED_SIGNALS = STOP_SIGNALS | {signal.SIGHUP}
# How often the supervisor looks at worker health while waiting for signals.
SUPERVISE_INTERVAL = 1.0
# Seconds workers always get to end their interpreter once told to stop.
WORKER_EXIT_GRACE = 2.0


class Server:
    """One run of the server: ``Server(config).run()`` returns an exit code."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.queue: _engine.Queue | None = None
        self.engine: _engine.Engine | None = None
        self.pool: _engine.Pool | None = None
        self.urls: list[str] = []
        self.stop_deadline: float | None = None

    def run(self) -> int:
        # Every 3.13.x crashes ending subinterpreters that imported _datetime
        # unless main imported it first (docs/design.md).
        import _datetime  # noqa: F401

        # Signals wait in the kernel until sigtimedwait takes them: handlers
        # never run at an awkward moment, and C threads block them anyway.
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        try:
            return self._run()
        finally:
            self._teardown()

    def _run(self) -> int:
        try:
            sockets = self._open_sockets()
        except BindError as exc:
            log.error("%s", exc)
            return EXIT_BIND
        started = time.monotonic()
        self._start_engine(sockets)
        self._start_pool()
        failure = self._wait_for_workers()
        if failure is not None:
            log.error("%s", failure)
            return EXIT_APP_LOAD
        self.engine.start()
        log.info(
            "%d interpreter%s ready in %.1f s, listening on %s",
            self.config.workers,
            "" if self.config.workers == 1 else "s",
            time.monotonic() - started,
            ", ".join(self.urls),
        )
        signum = self._supervise()
        if signum is None:
            log.error("every worker interpreter has exited; stopping")
            return EXIT_STOP_FAILED
        log.info("received %s: stopping gracefully", signal.Signals(signum).name)
        return self._graceful_stop()

    def _open_sockets(self) -> list:
        cfg = self.config
        sockets = [open_listener(bind, cfg.backlog) for bind in cfg.binds]
        sockets += [inherited_listener(fd) for fd in cfg.fds]
        self.urls = [describe(sock) for sock in sockets]
        return sockets

    def _start_engine(self, sockets: list) -> None:
        cfg = self.config
        # one consumer group per interpreter: a put wakes a thread of the
        # interpreter with the fewest threads running (the GIL they share)
        self.queue = _engine.queue_create(cfg.queue_capacity, groups=cfg.workers)
        fds = [sock.detach() for sock in sockets]  # the engine owns them now
        self.engine = _engine.engine_create(
            fds,
            self.queue.id,
            keepalive=cfg.keepalive,
            header_timeout=cfg.header_timeout,
            client_timeout=cfg.client_timeout,
            max_line=cfg.limit_request_line,
            max_head=cfg.limit_request_head,
            max_fields=cfg.limit_request_fields,
            max_field=cfg.limit_request_field_size,
        )

    def _start_pool(self) -> None:
        cfg = self.config
        settings = cfg.worker_settings(self.queue.id, self.engine.id)
        self.pool = _engine.pool_start(settings.bootstrap_program(), cfg.workers)

    def _wait_for_workers(self) -> str | None:
        """None when every worker loaded the app, else the message to show."""
        deadline = time.monotonic() + self.config.boot_timeout
        while True:
            statuses = self.pool.wait(0.25)
            failed = [msg for state, _loaded, msg in statuses if state in
                      (_engine.WORKER_FAILED, _engine.WORKER_EXITED)]
            if failed:
                return failed[0] or "a worker interpreter exited while loading the app"
            if all(state == _engine.WORKER_READY for state, _, _ in statuses):
                return None
            if self._pending_stop() is not None:
                return "stopped by a signal while loading the app"
            if time.monotonic() > deadline:
                return f"the app did not load within {self.config.boot_timeout:.0f} s"

    def _pending_stop(self) -> int | None:
        info = signal.sigtimedwait(STOP_SIGNALS, 0)
        return info.si_signo if info is not None else None

    def _supervise(self) -> int | None:
        """Wait for a stop signal; None if every worker died first."""
        while True:
            info = signal.sigtimedwait(HANDLED_SIGNALS, SUPERVISE_INTERVAL)
            if info is not None and info.si_signo in STOP_SIGNALS:
                return info.si_signo
            if info is not None:
                log.info("received %s: ignored (reload is not supported yet)",
                         signal.Signals(info.si_signo).name)
            statuses = self.pool.wait(0)
            dead = [msg for state, _, msg in statuses if state == _engine.WORKER_EXITED]
            for msg in dead:
                if msg:
                    log.error("a worker interpreter exited: %s", msg)
            if len(dead) == len(statuses):
                return None

    def _graceful_stop(self) -> int:
        cfg = self.config
        self.stop_deadline = time.monotonic() + cfg.graceful_timeout
        self.engine.drain()
        busy = self.engine.wait_idle(cfg.graceful_timeout)
        if busy:
            log.warning("%d request(s) still running after %g s", busy, cfg.graceful_timeout)
            return EXIT_STOP_FAILED
        return EXIT_OK

    def _join_timeout(self) -> float:
        """How long workers get to end: what is left of the graceful stop's
        budget (a stuck request must not double it: orchestrators kill soon
        after it), but always a moment for lifespan shutdown and cleanup."""
        if self.stop_deadline is None:
            return max(self.config.graceful_timeout, WORKER_EXIT_GRACE)
        return max(self.stop_deadline - time.monotonic(), WORKER_EXIT_GRACE)

    def _teardown(self) -> None:
        """Stop and join every worker before finalization, on every path:
        exiting with live subinterpreters crashes CPython (docs/design.md).

        The order is the polite one (workers first, then what they use), but
        not what keeps memory safe: every handle holds a reference, so a
        destroy in another order gives the workers errors, never a crash."""
        if self.engine is not None:
            self.engine.drain()
        if self.pool is not None:
            # one stop item for every worker thread
            self.queue.put_stop(self.config.workers * self.config.threads)
            running = self.pool.join(self._join_timeout())
            if running:
                log.error("%d worker interpreter(s) did not stop; exiting hard", running)
                logging.shutdown()
                os._exit(EXIT_STOP_FAILED)
            self.pool.destroy()
        if self.engine is not None:
            self.engine.destroy()
        if self.queue is not None:
            self.queue.destroy()
        self.engine = self.pool = self.queue = None
