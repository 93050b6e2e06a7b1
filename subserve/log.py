"""Log configuration shared by the main interpreter and the workers.

Runs in: main and worker interpreters. Each interpreter has its own logging
module, so each configures its own; they all write the same line layout to
stderr, told apart by a tag (``main``, ``worker 3``, ``process 1``). Errors
go to the ``subserve.error`` logger (uvicorn's naming); the access log
formats and batches its own lines (``worker.accesslog``) in the same layout.

A line's tag is that of the thread that logs it: a worker's threads are
named ``subserve-worker-K.N`` (``worker_thread_name``), and their lines say
``worker K`` wherever they run, also in the main interpreter (the thread
worker kind); any other thread's lines carry the tag ``configure`` was given.
"""

from __future__ import annotations

import logging
import re
import sys
import threading

ERROR = "subserve.error"

_WORKER_THREAD = re.compile(r"subserve-worker-(\d+)\.")


def worker_thread_name(index: int, thread: int) -> str:
    """The name of thread ``thread`` of worker ``index``: its lines say ``worker index``."""
    return f"subserve-worker-{index}.{thread}"


class _TagFilter(logging.Filter):
    """Sets ``record.tag``: the worker of the logging thread, else the default."""

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        match = _WORKER_THREAD.match(threading.current_thread().name)
        record.tag = f"worker {match.group(1)}" if match else self.default
        return True


def configure(level: str, tag: str) -> None:
    """Send subserve's loggers to stderr at ``level``, lines tagged ``tag``
    (or by the worker thread that logs them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(tag)s] [%(levelname)s] %(message)s"))
    handler.addFilter(_TagFilter(tag))
    root = logging.getLogger("subserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def is_configured() -> bool:
    """Whether this interpreter's subserve loggers were configured already
    (a worker in the main interpreter keeps main's configuration)."""
    return any(isinstance(f, _TagFilter) for h in logging.getLogger("subserve").handlers
               for f in h.filters)


def access_prefix(tag: str) -> str:
    """What follows the timestamp on an access line: the same layout as
    ``configure``'s, for the access log that formats its lines itself."""
    return f"] [{tag}] [INFO] "
