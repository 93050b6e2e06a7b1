"""Log configuration shared by the main interpreter and the workers.

Runs in: main and worker interpreters. Each interpreter has its own logging
module, so each configures its own; they all write the same line layout to
stderr, told apart by a tag (``main``, ``worker 3``). Errors go to the
``subserve.error`` logger (uvicorn's naming); the access log formats and
batches its own lines (``worker.accesslog``) in the same layout.
"""

from __future__ import annotations

import logging
import sys

ERROR = "subserve.error"


def configure(level: str, tag: str) -> None:
    """Send subserve's loggers to stderr at ``level``, lines tagged ``tag``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[%(asctime)s] [{tag}] [%(levelname)s] %(message)s"))
    root = logging.getLogger("subserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def access_prefix(tag: str) -> str:
    """What follows the timestamp on an access line: the same layout as
    ``configure``'s, for the access log that formats its lines itself."""
    return f"] [{tag}] [INFO] "
