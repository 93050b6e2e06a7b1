"""The access log: one line per request, written to stderr in batches.

Runs in: worker interpreters.

Going through the logging module costs about 10 us a record here (caller
lookup, a LogRecord, a Formatter, one write syscall per line): with the
access log on by default, it halved hello-world throughput (30k against 66k
req/s, wrk -c64, 2 workers). So lines are formatted here, in the same layout
as the other log lines, with the timestamp text cached per second, and
written with one os.write per batch: when ``BATCH`` lines are pending and
whenever the worker is about to wait for work, so an idle server's log is
never behind.
"""

from __future__ import annotations

import os
import threading
import time

from subserve.log import access_prefix

BATCH = 64


class AccessLog:
    """Formats and batches access lines; safe to share between threads."""

    def __init__(self, worker_index: int, fd: int = 2) -> None:
        self._fd = fd
        self._tag = access_prefix(f"worker {worker_index}")
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._second = -1
        self._stamp = ""

    def log(self, client: str, method: str, target: str, protocol: str,
            status: int, size: int, seconds: float) -> None:
        """Record one request; ``seconds`` is how long it took."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("[%Y-%m-%d %H:%M:%S", time.localtime(now))
            self._second = second
        line = (f'{self._stamp},{int((now - second) * 1000):03d}{self._tag}{client} - '
                f'"{method} {target} {protocol}" {status} {size} {seconds * 1000:.1f}ms\n')
        with self._lock:
            self._lines.append(line)
            full = len(self._lines) >= BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (called when idle, when full, at exit)."""
        with self._lock:
            lines, self._lines = self._lines, []
        if not lines:
            return
        data = "".join(lines).encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError:
            pass  # stderr gone (closed pipe): dropping log lines must not stop serving
