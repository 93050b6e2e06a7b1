"""The server: listening sockets, the worker kind, and the run of that kind.

Runs in: the main interpreter.

Worker kinds (``--worker-kind``):

- ``interpreter``: ``--workers`` OWN_GIL subinterpreters of this process,
  each with its own copy of the app (``supervisor.serving``).
- ``thread``: the app imported once, in the main interpreter, served by
  ``--threads`` threads (WSGI) or one event loop (ASGI); parallel on a
  free-threaded build, gthread-like concurrency on a GIL build.
- ``process``: ``--workers`` forked processes, each serving the app in its
  own main interpreter (``supervisor.processes``).
- ``auto`` (the default): ``interpreter`` when the app loads in an isolated
  interpreter; when a module refuses one, ``process`` on a GIL build and
  ``thread`` on a free-threaded one, announced by one line that names the
  module, the distribution that ships it, and the kind chosen.

By default a supervisor process holds the sockets and runs the server in a
child it restarts when it dies (``supervisor.processes``); with
``--no-supervisor`` the server runs in this process, as an orchestrator
that restarts containers may prefer.

Exit codes (``subserve.errors``): 0 after a clean stop, 1 when a stop timed
out or workers died, 2 for a bad address, 3 when the app could not load.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from typing import NoReturn

from subserve import log as logs
from subserve.config import Config
from subserve.errors import EXIT_APP_LOAD, EXIT_BIND, EXIT_STOP_FAILED, BindError
from subserve.handoff.report import LoadFailure
from subserve.isolation.refusal import Refusal
from subserve.supervisor.fallback import INTERPRETER, PROCESS, THREAD, announce, fallback_kind
from subserve.supervisor.limits import describe_nofile, raise_nofile
from subserve.supervisor.listeners import describe, inherited_listener, open_listener
from subserve.supervisor.processes import ProcessSupervisor
from subserve.supervisor.restart import exec_as
from subserve.supervisor.serving import HANDLED_SIGNALS, Serving, ready_line

log = logging.getLogger(logs.ERROR)

KINDS = ("auto", INTERPRETER, THREAD, PROCESS)


class Server:
    """One run of the server: ``Server(config).run()`` returns an exit code."""

    def __init__(self, config: Config) -> None:
        if config.worker_kind not in KINDS:
            raise ValueError(f"worker kind must be one of {KINDS}, not {config.worker_kind!r}")
        self.config = config
        self.listeners: list[socket.socket] = []
        self.urls: list[str] = []

    def run(self) -> int:
        # Every 3.13.x crashes ending subinterpreters that imported _datetime
        # unless main imported it first (docs/design.md).
        import _datetime  # noqa: F401

        # Signals wait in the kernel until sigtimedwait takes them: handlers
        # never run at an awkward moment, and C threads block them anyway.
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        # before any engine: each sizes its connection table by the limit
        log.info("%s", describe_nofile(*raise_nofile()))
        try:
            self._open_listeners()
        except BindError as exc:
            log.error("%s", exc)
            return EXIT_BIND
        try:
            return self._run_kind()
        finally:
            for sock in self.listeners:
                sock.close()

    def _open_listeners(self) -> None:
        cfg = self.config
        self.listeners = [open_listener(bind, cfg.backlog) for bind in cfg.binds]
        self.listeners += [inherited_listener(fd) for fd in cfg.fds]
        self.urls = [describe(sock) for sock in self.listeners]

    def _run_kind(self) -> int:
        kind = self.config.worker_kind
        if kind == PROCESS or self.config.supervisor:
            serving_kind = kind if kind in (PROCESS, THREAD) else INTERPRETER
            return ProcessSupervisor(self.config, self.listeners, serving_kind,
                                     fall_back=kind == "auto").run()
        started = time.monotonic()
        serving, failure = self._boot(THREAD if kind == THREAD else INTERPRETER)
        if failure is not None and failure.refused and kind == "auto":
            serving.teardown()
            self._fall_back(Refusal(**failure.refused))
        return self._serve(serving, failure, started)

    def _boot(self, kind: str) -> tuple[Serving, LoadFailure | None]:
        serving = Serving(self.config, self.listeners, kind)
        try:
            return serving, serving.boot()
        except BaseException:
            serving.teardown()
            raise

    def _fall_back(self, refusal: Refusal) -> NoReturn:
        """``auto`` without a supervisor, for an app that refused an isolated
        interpreter: the server starts afresh as the fallback kind
        (``supervisor.restart``)."""
        kind = fallback_kind()
        announce(refusal, self.config.app, kind)
        exec_as(self.config, kind, self.listeners)

    def _serve(self, serving: Serving, failure: LoadFailure | None, started: float) -> int:
        """Serve in this process until a stop signal; always tears ``serving`` down."""
        try:
            if failure is not None:
                log.error("%s", failure.text)
                return EXIT_APP_LOAD
            serving.start()
            log.info("%s", ready_line(serving.kind, self.config, serving.workers,
                                      time.monotonic() - started, self.urls))
            signum = serving.supervise()
            if signum is None:
                log.error("every worker has exited; stopping")
                return EXIT_STOP_FAILED
            log.info("received %s: stopping gracefully", signal.Signals(signum).name)
            return serving.graceful_stop()
        finally:
            serving.teardown()

