"""What ``--worker-kind auto`` serves an app with when it refuses an isolated
interpreter, and the one line that says so.

Runs in: the main interpreter (the server's, and ``subserve check``'s).
"""

from __future__ import annotations

import logging
import sys

from subserve import log as logs
from subserve.isolation.refusal import Refusal

log = logging.getLogger(logs.ERROR)

INTERPRETER, THREAD, PROCESS = "interpreter", "thread", "process"


def free_threaded() -> bool:
    """Whether this build runs Python code of several threads in parallel."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_gil_enabled is not None and not is_gil_enabled()


def fallback_kind() -> str:
    """``thread`` on a free-threaded build (one copy of the app, every core),
    ``process`` on a GIL build."""
    return THREAD if free_threaded() else PROCESS


def build() -> str:
    return "a free-threaded build" if free_threaded() else "a GIL build"


def announce(refusal: Refusal, app: str, kind: str) -> None:
    """The warning that names the distribution and module that refused, and
    the kind chosen instead."""
    log.warning("%s does not support subinterpreters: serving %s with worker kind %r "
                "instead (%s)", refusal, app, kind, build())
