"""``--timeout``: a WSGI request that runs too long without sending anything.

Runs in: worker interpreters (and the main interpreter of the thread and
process kinds): one watchdog thread per worker, beside its handler threads.

Each handler thread owns a ``Slot``: ``begin`` when a request is dispatched,
``progress`` whenever a part of the response leaves, ``end`` when the
request is done. The watchdog wakes every ``timeout / 4`` (at most once a
second: two dict-free attribute reads per handler thread) and, for a slot
whose request made no progress for ``timeout`` seconds:

1. raises ``RequestTimeout`` inside that thread (CPython's asynchronous
   exception, ``_engine.interrupt_thread``): a pure-Python loop stops at its
   next bytecode, and the handler answers 504, or closes the connection if
   the response had started;
2. a thread still in that request ``STUCK_AFTER`` seconds later is blocked in
   C (``time.sleep``, a read with no timeout), where no exception reaches it:
   the watchdog answers 504 itself if nothing was sent yet, shuts the
   connection down (the fd stays the stuck thread's, so it is never reused
   under it) and reports the thread stuck: logged, counted, and signalled
   to its serving process (``handoff.signals.THREAD_LOST``), whose
   supervisor then starts a successor so the capacity comes back.

Progress, not the request's age, is what counts, so that a response that
streams for minutes lives as long as it keeps sending. ``end`` and the
watchdog's decision to interrupt take one lock, so the exception never
lands in a thread that already moved on to its next request; ``end`` also
clears an exception raised too late to be delivered.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from subserve import _engine
from subserve.handoff.signals import THREAD_LOST
from subserve.http.response import error_page
from subserve.log import ERROR

log = logging.getLogger(ERROR)

# Seconds an interrupted thread gets to leave its request before it counts as stuck.
STUCK_AFTER = 1.0
IDLE, BUSY, INTERRUPTED, STUCK = range(4)


class RequestTimeout(BaseException):
    """Raised in a handler thread whose request made no progress for --timeout.

    A BaseException, so that an app's ``except Exception`` does not swallow it."""


class Slot:
    """One handler thread's request, as the watchdog sees it."""

    __slots__ = ("ident", "state", "since", "environ", "response", "fd", "lock")

    def __init__(self, lock: threading.Lock) -> None:
        self.ident = threading.get_ident()
        self.state = IDLE
        self.since = 0.0            # monotonic time of the request's last progress
        self.environ: dict[str, Any] = {}
        self.response: Any = None   # has head_sent; the watchdog's 504 needs it
        self.fd = -1
        self.lock = lock

    def begin(self, fd: int, response: Any, environ: dict[str, Any]) -> None:
        self.fd, self.response, self.environ = fd, response, environ
        self.since = time.monotonic()
        self.state = BUSY

    def progress(self) -> None:
        self.since = time.monotonic()

    def describe(self) -> str:
        environ = self.environ or {}  # the app may have rewritten it: read defensively
        return f"{environ.get('REQUEST_METHOD')} {environ.get('RAW_URI')}"

    def end(self) -> None:
        with self.lock:
            self.state = IDLE
            self.response = self.environ = None
            _engine.interrupt_thread(self.ident, None)  # one decided just too late


class Watchdog:
    """The watchdog thread of one worker; ``slot()`` for each handler thread."""

    def __init__(self, timeout: float, name: str, engine: _engine.Engine | None = None) -> None:
        """``engine``: the engine to stop accepting on once a thread is lost,
        when a supervisor will start a successor (None: none will)."""
        self.timeout = timeout
        self.engine = engine
        self.lock = threading.Lock()
        self.slots: list[Slot] = []
        self.stuck = 0              # threads lost to a request blocked in C
        self._stop = threading.Event()
        # not a daemon: isolated interpreters allow none, and stop() joins it
        self._thread = threading.Thread(target=self._run, name=name)

    def slot(self) -> Slot:
        """A slot for the calling handler thread."""
        slot = Slot(self.lock)
        with self.lock:
            self.slots.append(slot)
        return slot

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = min(1.0, self.timeout / 4)
        while not self._stop.wait(interval):
            now = time.monotonic()
            for slot in list(self.slots):
                if slot.state == BUSY and now - slot.since >= self.timeout:
                    self._interrupt(slot, now)
                elif slot.state == INTERRUPTED and now - slot.since >= self.timeout + STUCK_AFTER:
                    self._abandon(slot)

    def _interrupt(self, slot: Slot, now: float) -> None:
        with self.lock:
            if slot.state != BUSY or now - slot.since < self.timeout:
                return  # it ended or progressed meanwhile
            slot.state = INTERRUPTED
            _engine.interrupt_thread(slot.ident, RequestTimeout)
            what = slot.describe()
        log.error("%s made no progress for %g s: interrupting it (--timeout)", what, self.timeout)

    def _abandon(self, slot: Slot) -> None:
        with self.lock:
            if slot.state != INTERRUPTED:
                return
            slot.state = STUCK
            what, response, fd = slot.describe(), slot.response, slot.fd
        self.stuck += 1
        if self.engine is not None:
            # before the 504: the client's next connection must reach the
            # successor, not queue behind this stuck thread
            self.engine.drain()
        answered = response is not None and not response.head_sent and answer_timeout(fd)
        cut_off(fd)
        log.error("%s is still blocked %g s after it was interrupted (in C code, where no "
                  "exception reaches it): %s; its thread is lost (%d so far)",
                  what, STUCK_AFTER, "answered 504" if answered else "connection closed",
                  self.stuck)
        os.kill(os.getpid(), THREAD_LOST)


def timeout_response() -> bytes:
    """The whole 504 response, connection closing."""
    reason, body = error_page(504)
    return (f"HTTP/1.1 504 {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def answer_timeout(fd: int) -> bool:
    """Send the 504 on ``fd`` from the watchdog; whether it went out."""
    try:
        _engine.send_all(fd, timeout_response())
    except OSError:
        return False
    return True


def cut_off(fd: int) -> None:
    """Shut the connection down without closing ``fd``: the stuck thread still
    owns the number, which must not be reused while it may write to it."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()
