"""The supervisor: forked serving processes, restarted when they die.

Runs in: the main interpreter of the supervisor process, and after a fork
in each child's. The supervisor keeps the listening sockets, the signals and
the children, and never imports the app; each child is a serving process of
its own (``Serving``) whose engine accepts on the shared listening sockets.
Two shapes:

- the ``process`` worker kind: ``--workers`` children, each serving the app
  in its own main interpreter (``--threads`` threads or one event loop);
- the default for the ``interpreter`` and ``thread`` kinds: one child that
  runs the whole server (``--workers`` OWN_GIL interpreters, or the app in
  its main interpreter), so that a segfault, an abort, an OOM kill or an
  ``os._exit`` in the app costs one restart instead of the server
  (``--no-supervisor`` serves in this very process instead).

Choices made here:

- Children are forked before any thread exists in the supervisor, and each
  starts its own engine and workers after the fork: nothing runs across it.
  The supervisor's listening sockets stay open while a child restarts, so
  connections that arrive meanwhile wait in the listen backlog.
- A child tells the supervisor through a pipe that it is ready, or why it
  could not load the app (a ``LoadFailure``); the supervisor announces the
  server ready once every child is. Under ``--worker-kind auto``, a refusal
  reported by an interpreter child makes the supervisor fork the fallback
  kind instead: it never imported the app, so nothing the refused import
  left behind reaches the new children.
- A child that dies while serving is forked again, at once the first time,
  then after a delay that doubles while children keep dying young (up to
  ``MAX_RESTART_DELAY``); a child that then cannot load the app stops the
  server with exit 3, as at start-up. Each child enables faulthandler, so a
  fault prints the crashing thread's Python traceback before it dies.
- A stop signal closes the supervisor's listening sockets, sends SIGTERM to
  every child (each drains within --graceful-timeout), and kills those still
  running past it. With one child the exit code is the child's; with
  several, 0 when every child stopped cleanly.
"""

from __future__ import annotations

import contextlib
import faulthandler
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
from subserve.handoff.signals import RENEW
from subserve.isolation.refusal import Refusal
from subserve.supervisor.fallback import INTERPRETER, PROCESS, THREAD, announce, fallback_kind
from subserve.supervisor.listeners import describe
from subserve.supervisor.serving import (
    STOP_SIGNALS,
    SUPERVISE_INTERVAL,
    WORKER_EXIT_GRACE,
    Serving,
    ready_line,
)

log = logging.getLogger(logs.ERROR)

HANDLED = STOP_SIGNALS | {signal.SIGHUP, signal.SIGCHLD, RENEW}
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
    replaces: int = 0            # the pid of the child this one succeeds, once ready
    retiring: bool = False       # a successor was forked: its end is no crash


class ProcessSupervisor:
    """Forks serving processes of worker kind ``kind`` and supervises them;
    ``run`` returns the exit code. ``kind`` is ``process`` (``--workers``
    children), or ``interpreter``/``thread`` (one child serving that kind);
    ``fall_back``: a refusal reported by an interpreter child switches to
    ``fallback_kind()``."""

    def __init__(self, config: Config, listeners: list[socket.socket], kind: str = PROCESS, *,
                 fall_back: bool = False) -> None:
        self.config = config
        self.listeners = listeners
        self.kind = kind
        self.fall_back = fall_back and kind == INTERPRETER
        self.children: dict[int, Child] = {}      # by pid
        self.restarts: dict[int, float] = {}      # index -> when to fork it again
        self.deaths_young = 0
        self.failure: LoadFailure | None = None   # a restarted child could not load the app
        self.reload_due = False                   # a SIGHUP waits for the swap under way

    @property
    def count(self) -> int:
        """How many serving processes this kind runs."""
        return self.config.workers if self.kind == PROCESS else 1

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        started = time.monotonic()
        failure = self._boot()
        if failure is not None and failure.refused and self.fall_back:
            self.kind = fallback_kind()
            announce(Refusal(**failure.refused), self.config.app, self.kind)
            started = time.monotonic()
            failure = self._boot()
        if failure is not None:
            log.error("%s", failure.text)
            self._stop_children(0.0)
            return EXIT_APP_LOAD
        log.info("%s", ready_line(self.kind, self.config, self.config.workers,
                                  time.monotonic() - started, self._urls()))
        return self._supervise()

    def _boot(self) -> LoadFailure | None:
        """Fork every child and wait until all are ready; the failure one
        reported (the others are stopped then), or None."""
        for index in range(self.count):
            self._fork(index)
        failure = self._wait_ready(time.monotonic() + self.config.boot_timeout)
        if failure is not None:
            for pid in self.children:
                _signal(pid, signal.SIGTERM)
            self._wait_children(WORKER_EXIT_GRACE)
        return failure

    # -- children -----------------------------------------------------------------

    def _fork(self, index: int, replaces: int = 0) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            for child in self.children.values():
                if child.ready_fd >= 0:
                    os.close(child.ready_fd)
            os._exit(serve_child(self.config, self.listeners, self.kind, index, write_fd))
        os.close(write_fd)
        self.children[pid] = Child(index, pid, read_fd, time.monotonic(), replaces=replaces)

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
        failure = None
        for fd in readable:
            child = booting[fd]
            data = os.read(fd, 65536)
            if data:
                child.report += data
            else:  # the child closed its end: its report is whole
                failure = self._report_done(child) or failure
        return failure

    def _report_done(self, child: Child) -> LoadFailure | None:
        """``child``'s report is whole: it is ready, or why not. A successor's
        failure leaves the old process serving; any other is returned."""
        os.close(child.ready_fd)
        child.ready_fd = -1
        if bytes(child.report) == READY:
            child.ready = True
            return None
        failure = LoadFailure.decode(child.report.decode("utf-8", "replace") or None)
        if not child.replaces:
            return failure
        self._successor_failed(child, failure)
        return None

    def _successor_failed(self, child: Child, failure: LoadFailure) -> None:
        """A successor (of a reload or a renewal) could not load the app: the
        process it was to replace serves on, as gunicorn keeps its workers
        when a reload fails."""
        child.retiring = True  # it exits by itself: no restart
        old = self.children.get(child.replaces)
        if old is not None:
            old.retiring = False
        log.error("%s: its successor (pid %d) could not load the app, so pid %d serves on: %s",
                  serving_name(self.kind, child.index), child.pid, child.replaces, failure.text)

    # -- serving ---------------------------------------------------------------------

    def _supervise(self) -> int:
        while True:
            # while a restarted child boots, look at its pipe often: its
            # "ready" line measures the time to recover
            booting = any(not child.ready for child in self.children.values())
            info = signal.sigtimedwait(HANDLED, 0.05 if booting else SUPERVISE_INTERVAL)
            if info is not None and info.si_signo in STOP_SIGNALS:
                log.info("received %s: stopping gracefully", signal.Signals(info.si_signo).name)
                return self._stop_children(self.config.graceful_timeout)
            if info is not None and info.si_signo == signal.SIGHUP:
                self.reload_due = True
            if self.reload_due and not self._swapping():
                self.reload_due = False
                self._reload()
            if info is not None and info.si_signo == RENEW:
                self._succeed(info.si_pid, "asked for a successor")
            self._reap()
            failure = self._restart_due()
            if failure is not None:
                log.error("%s", failure.text)
                self._stop_children(0.0)
                return EXIT_APP_LOAD

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
                continue  # an orphan of the app's: as PID 1 in a container we reap those too
            if child.ready_fd >= 0:
                # it died booting: its report says why (reaped before it was read)
                while data := os.read(child.ready_fd, 65536):
                    child.report += data
                failure = self._report_done(child)
                if failure is not None:
                    self.failure = self.failure or failure  # stops the server: no restart
                    continue
            if child.retiring:
                log.info("%s (pid %d), replaced, %s", serving_name(self.kind, child.index), pid,
                         describe_status(status))
                continue
            young = time.monotonic() - child.started < YOUNG
            self.deaths_young = self.deaths_young + 1 if young else 0
            # the first death in a while restarts at once: capacity matters most
            delay = (min(MAX_RESTART_DELAY, 0.5 * 2 ** (self.deaths_young - 2))
                     if self.deaths_young > 1 else 0.0)
            log.error("%s (pid %d) %s; starting another in %.1f s",
                      serving_name(self.kind, child.index), pid, describe_status(status), delay)
            self.restarts[child.index] = time.monotonic() + delay

    def _restart_due(self) -> LoadFailure | None:
        """Fork the children whose restart is due; the failure a restarted
        child reported, if one did, and a line for each that became ready."""
        now = time.monotonic()
        for index, when in list(self.restarts.items()):
            if when <= now:
                del self.restarts[index]
                self._fork(index)
        booting = [c for c in self.children.values() if not c.ready]
        failure = self._read_reports(0) or self.failure
        for child in booting:
            if child.ready:
                log.info("%s (pid %d) ready in %.2f s", serving_name(self.kind, child.index),
                         child.pid, time.monotonic() - child.started)
                if child.replaces in self.children:
                    _signal(child.replaces, signal.SIGTERM)  # it drains, then exits
            elif now - child.started > self.config.boot_timeout and failure is None:
                # as at start-up: an app that no longer loads in time stops the server
                failure = LoadFailure(f"the app did not load within "
                                      f"{self.config.boot_timeout:.0f} s (restarted serving process, "
                                      f"pid {child.pid})")
        return failure

    def _swapping(self) -> bool:
        """Whether a successor is booting or an old child retiring: a SIGHUP
        that comes meanwhile waits for the swap to end, so its code is read
        after the change that prompted it."""
        return any(c.retiring or not c.ready for c in self.children.values())

    def _reload(self) -> None:
        log.info("received SIGHUP: reloading (a successor for each serving process, "
                 "which imports the app afresh)")
        for pid in list(self.children):
            self._succeed(pid, "is reloaded")

    def _succeed(self, pid: int, why: str) -> None:
        """Fork a successor for child ``pid`` (it lost capacity, or SIGHUP
        reloads the app); the old child is stopped gracefully once the
        successor is ready, and serves on if the successor fails."""
        child = self.children.get(pid)
        if child is None or child.retiring or not child.ready:
            return
        child.retiring = True
        log.warning("%s (pid %d) %s: starting its successor",
                    serving_name(self.kind, child.index), pid, why)
        self._fork(child.index, replaces=pid)

    # -- stopping ---------------------------------------------------------------------

    def _stop_children(self, grace: float) -> int:
        """Close the listeners, SIGTERM every child, wait ``grace`` (plus a
        moment), SIGKILL the rest; the exit code."""
        for sock in self.listeners:
            sock.close()  # refuse new connections at once: children close theirs too
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        # a child needs grace to drain, then up to WORKER_EXIT_GRACE to end its workers
        codes = self._wait_children(grace + 2 * WORKER_EXIT_GRACE)
        if len(codes) == 1 and codes[0] >= 0:
            return codes[0]
        return EXIT_OK if all(code == EXIT_OK for code in codes) else EXIT_STOP_FAILED

    def _wait_children(self, timeout: float) -> list[int]:
        """Wait for every child to end, killing those left after ``timeout``;
        their exit codes (negative: the signal that ended them)."""
        deadline = time.monotonic() + timeout
        codes = []
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid in self.children:
                child = self.children.pop(pid)
                codes.append(os.waitstatus_to_exitcode(status))
                if child.ready_fd >= 0:
                    os.close(child.ready_fd)
                continue
            if pid != 0:
                continue  # an orphan reaped
            if time.monotonic() > deadline:
                log.error("%d serving process(es) did not stop; killing them", len(self.children))
                for pid in self.children:
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")  # a killed child always ends
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        return codes


def serving_name(kind: str, index: int) -> str:
    """How the log names serving process ``index`` of a supervisor of ``kind``."""
    return f"worker process {index}" if kind == PROCESS else "the serving process"


def describe_status(status: int) -> str:
    """'exited with code 3' or 'was killed by SIGSEGV', from a wait status."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exited with code {code}"
    return f"was killed by {signal.Signals(-code).name}"


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it died meanwhile: reaped next
        os.kill(pid, signum)


def serve_child(config: Config, listeners: list[socket.socket], kind: str, index: int,
                ready_fd: int) -> int:
    """The body of serving process ``index`` after the fork: boot, report
    through ``ready_fd``, serve until a stop signal; the child's exit code."""
    logs.configure(config.log_level, f"process {index}" if kind == PROCESS else "server")
    # A fault in the app prints the Python traceback of every thread of this
    # process's main interpreter before the supervisor logs the signal.
    faulthandler.enable(all_threads=True)
    serving = Serving(config, listeners, THREAD if kind == PROCESS else kind, first_index=index,
                      supervised=True)
    try:
        failure = serving.boot()
        _write_all(ready_fd, READY if failure is None else failure.encode().encode())
        os.close(ready_fd)
        if failure is not None:
            return EXIT_APP_LOAD
        # alone on its sockets (one process, or the other kinds), a process
        # accepts freely: pausing would leave connections to nobody
        serving.start(share_listeners=kind == PROCESS and config.workers > 1)
        signum = serving.supervise()
        if signum is None:
            log.error("every worker has exited")
            return EXIT_STOP_FAILED
        return serving.graceful_stop()
    except BaseException:
        log.exception("%s failed", serving_name(kind, index))
        return EXIT_STOP_FAILED
    finally:
        serving.teardown()
        logging.shutdown()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
