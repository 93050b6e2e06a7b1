"""The signals the server's processes send each other, beside the stop signals.

Runs in: both (a worker's watchdog sends one; the serving process and the
supervisor take them with ``sigtimedwait``, blocked in every thread).

- ``THREAD_LOST`` (SIGUSR2), to the serving process itself: a worker's
  watchdog abandoned a handler thread blocked in C past ``--timeout``.
- ``RENEW`` (SIGUSR1), serving process -> supervisor: this process lost
  capacity (a stuck thread, a worker that died); fork a successor and stop
  this one gracefully once the successor is ready.
"""

from __future__ import annotations

import signal

THREAD_LOST = signal.SIGUSR2
RENEW = signal.SIGUSR1
