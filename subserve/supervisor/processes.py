"""The process worker kind: forked serving processes under one supervisor.

Runs in: the main interpreter of the supervisor process, and after a fork
in each child's. The supervisor keeps the listening sockets, the signals and
the children; each child is a serving process of its own (``Serving``, the
thread kind: its engine accepts on the shared listening sockets, its app
runs in its main interpreter), so an app that refuses subinterpreters gets
``--workers`` processes, each with ``--threads`` threads or one event loop.

Choices made here:

- Children are forked before any thread exists in the supervisor, and each
  starts its own engine and workers after the fork: nothing runs across it.
- A child tells the supervisor through a pipe that it is ready, or why it
  could not load the app (a ``LoadFailure``); the supervisor announces the
  server ready once every child is.
- A child that dies while serving is forked again, after a delay that
  doubles while children keep dying young (up to ``MAX_RESTART_DELAY``); a
  child that then cannot load the app stops the server with exit 3, as at
  start-up.
- A stop signal closes the supervisor's listening sockets, sends SIGTERM to
  every child (each drains within --graceful-timeout), and kills those still
  running past it. The exit code is 0 when every child stopped cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import time
from dataclasses import dataclass, field

from subserve import log as logs
from subserve.config import Config
from subserve.errors import EXIT_APP_LOAD, EXIT_OK, EXIT_STOP_FAILED
from subserve.handoff.report import LoadFailure
from subserve.supervisor.listeners import describe
from subserve.supervisor.serving import (
    STOP_SIGNALS,
    SUPERVISE_INTERVAL,
    THREAD,
    WORKER_EXIT_GRACE,
    Serving,
)

log = logging.getLogger(logs.ERROR)

HANDLED = STOP_SIGNALS | {signal.SIGHUP, signal.SIGCHLD}
READY = b"ready\n"
MAX_RESTART_DELAY = 30.0
YOUNG = 10.0  # seconds: a child dying younger than this makes the next restart wait longer


@dataclass
class Child:
    """One serving process, as the supervisor tracks it."""

    index: int
    pid: int
    ready_fd: int                # read end of its ready pipe, -1 once read
    started: float
    ready: bool = False
    report: bytearray = field(default_factory=bytearray)


class ProcessSupervisor:
    """Forks ``--workers`` serving processes and supervises them; ``run`` returns
    the exit code."""

    def __init__(self, config: Config, listeners: list[socket.socket]) -> None:
        self.config = config
        self.listeners = listeners
        self.children: dict[int, Child] = {}      # by pid
        self.restarts: dict[int, float] = {}      # index -> when to fork it again
        self.deaths_young = 0

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        for index in range(self.config.workers):
            self._fork(index)
        failure = self._wait_ready(time.monotonic() + self.config.boot_timeout)
        if failure is not None:
            log.error("%s", failure.text)
            self._stop_children(0.0)
            return EXIT_APP_LOAD
        return self._supervise()

    # -- children -----------------------------------------------------------------

    def _fork(self, index: int) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            for child in self.children.values():
                if child.ready_fd >= 0:
                    os.close(child.ready_fd)
            os._exit(serve_child(self.config, self.listeners, index, write_fd))
        os.close(write_fd)
        self.children[pid] = Child(index, pid, read_fd, time.monotonic())

    def _wait_ready(self, deadline: float) -> LoadFailure | None:
        """Read every booting child's report until all are ready; a failure, or
        None. Children that die meanwhile report an empty pipe."""
        while any(not c.ready for c in self.children.values()):
            if time.monotonic() > deadline:
                return LoadFailure(f"the app did not load within {self.config.boot_timeout:.0f} s")
            info = signal.sigtimedwait(STOP_SIGNALS, 0)
            if info is not None:
                return LoadFailure("stopped by a signal while loading the app")
            failure = self._read_reports(0.25)
            if failure is not None:
                return failure
        return None

    def _read_reports(self, timeout: float) -> LoadFailure | None:
        """Read what booting children wrote, waiting up to ``timeout``; the
        failure one reported, or None."""
        booting = {c.ready_fd: c for c in self.children.values() if c.ready_fd >= 0}
        if not booting:
            return None
        readable, _, _ = select.select(list(booting), [], [], timeout)
        for fd in readable:
            child = booting[fd]
            data = os.read(fd, 65536)
            if data:
                child.report += data
                continue
            os.close(fd)  # the child closed its end: its report is whole
            child.ready_fd = -1
            if bytes(child.report) != READY:
                return LoadFailure.decode(child.report.decode("utf-8", "replace") or None)
            child.ready = True
        return None

    # -- serving ---------------------------------------------------------------------

    def _supervise(self) -> int:
        workers = self.config.workers
        log.info("%d worker process%s ready (worker kind process, %s each), listening on %s",
                 workers, "" if workers == 1 else "es", self._each(), ", ".join(self._urls()))
        while True:
            info = signal.sigtimedwait(HANDLED, SUPERVISE_INTERVAL)
            if info is not None and info.si_signo in STOP_SIGNALS:
                log.info("received %s: stopping gracefully", signal.Signals(info.si_signo).name)
                return self._stop_children(self.config.graceful_timeout)
            if info is not None and info.si_signo == signal.SIGHUP:
                log.info("received SIGHUP: ignored (reload is not supported yet)")
            self._reap()
            failure = self._restart_due()
            if failure is not None:
                log.error("%s", failure.text)
                self._stop_children(0.0)
                return EXIT_APP_LOAD

    def _each(self) -> str:
        threads = self.config.threads
        return f"{threads} thread{'s' if threads > 1 else ''} or one event loop"

    def _urls(self) -> list[str]:
        return [describe(sock) for sock in self.listeners]

    def _reap(self) -> None:
        """Note children that died, and when each is to be forked again."""
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            if child.ready_fd >= 0:
                os.close(child.ready_fd)
            young = time.monotonic() - child.started < YOUNG
            self.deaths_young = self.deaths_young + 1 if young else 0
            delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** (self.deaths_young - 1)) if young else 0.0
            log.error("worker process %d (pid %d) %s; starting another in %.1f s",
                      child.index, pid, describe_status(status), delay)
            self.restarts[child.index] = time.monotonic() + delay

    def _restart_due(self) -> LoadFailure | None:
        """Fork the children whose restart is due; the failure a restarted
        child reported, if one did (its report is read without waiting)."""
        now = time.monotonic()
        for index, when in list(self.restarts.items()):
            if when <= now:
                del self.restarts[index]
                self._fork(index)
        return self._read_reports(0)

    # -- stopping ---------------------------------------------------------------------

    def _stop_children(self, grace: float) -> int:
        """SIGTERM every child, wait ``grace`` (plus a moment), SIGKILL the rest."""
        for sock in self.listeners:
            sock.close()  # refuse new connections at once: children close theirs too
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        # a child needs grace to drain, then up to WORKER_EXIT_GRACE to end its workers
        deadline = time.monotonic() + grace + 2 * WORKER_EXIT_GRACE
        clean = True
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid in self.children:
                child = self.children.pop(pid)
                clean &= os.waitstatus_to_exitcode(status) == EXIT_OK
                if child.ready_fd >= 0:
                    os.close(child.ready_fd)
                continue
            if time.monotonic() > deadline:
                log.error("%d worker process(es) did not stop; killing them", len(self.children))
                for pid in self.children:
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")  # a killed child always ends
                clean = False
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        return EXIT_OK if clean else EXIT_STOP_FAILED


def describe_status(status: int) -> str:
    """'exited with code 3' or 'was killed by SIGSEGV', from a wait status."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exited with code {code}"
    return f"was killed by {signal.Signals(-code).name}"


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it died meanwhile: reaped next
        os.kill(pid, signum)


def serve_child(config: Config, listeners: list[socket.socket], index: int, ready_fd: int) -> int:
    """The body of serving process ``index`` after the fork: boot, report
    through ``ready_fd``, serve until a stop signal; the child's exit code."""
    logs.configure(config.log_level, f"process {index}")
    serving = Serving(config, listeners, THREAD, first_index=index)
    try:
        failure = serving.boot()
        _write_all(ready_fd, READY if failure is None else failure.encode().encode())
        os.close(ready_fd)
        if failure is not None:
            return EXIT_APP_LOAD
        serving.start(share_listeners=True)
        signum = serving.supervise()
        return serving.graceful_stop() if signum is not None else EXIT_STOP_FAILED
    except BaseException:
        log.exception("worker process %d failed", index)
        return EXIT_STOP_FAILED
    finally:
        serving.teardown()
        logging.shutdown()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
