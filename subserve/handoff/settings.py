"""What a worker interpreter is told at birth: typed settings and its bootstrap program.

Runs in: main and worker interpreters. Main builds a ``WorkerSettings``
from its ``Config`` and turns it into a small program (plain literals
only); each new interpreter runs that program, which rebuilds the same
frozen object and hands it to ``subserve.worker.bootstrap.main``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WebSocketSettings:
    """The ``--ws-*`` options."""

    max_size: int               # bytes in one message, after decompression
    ping_interval: float        # seconds between server pings; 0: none
    ping_timeout: float         # seconds a pong may take
    per_message_deflate: bool


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs, as primitives. No field has a default:
    Config's defaults are the only ones, and a forgotten field fails loudly."""

    app: str
    factory: bool
    worker_kind: str        # interpreter | thread | process: where this worker runs
    first_index: int        # the pool's worker i is named worker first_index + i
    interface: str          # auto | wsgi | asgi
    lifespan: str           # auto | on | off (ASGI)
    threads: int            # WSGI threads per interpreter
    access_log: bool
    log_level: str
    root_path: str
    url_scheme: str
    client_timeout: float   # seconds a worker waits on a stalled client
    timeout: float          # --timeout: seconds a request may go without progress (0: never)
    supervised: bool        # a supervisor replaces this process when it loses capacity
    keep_alive: float       # idle seconds of a kept ASGI connection
    limit_request_body: int  # bytes of a chunked body before 413 (0: none); the engine checks Content-Length
    websocket: WebSocketSettings
    queue_id: int
    engine_id: int
    search_path: tuple[str, ...]
    engine_image: int       # _engine.IMAGE_ID of the copy main loaded
    engine_file: str        # and where it came from, for the error message

    def bootstrap_program(self) -> str:
        """The Python source each new worker interpreter runs.

        The pool sets ``__pool_id__`` and ``__worker_index__`` in its ``__main__``.
        """
        return (
            "import sys\n"
            f"sys.path[:] = {list(self.search_path)!r}\n"
            "from subserve.worker.bootstrap import main\n"
            f"main({dataclasses.asdict(self)!r}, pool_id=__pool_id__, index=__worker_index__)\n"
        )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerSettings:
        """Rebuild the settings from ``dataclasses.asdict`` output."""
        values = dict(raw)
        values["websocket"] = WebSocketSettings(**values["websocket"])
        values["search_path"] = tuple(values["search_path"])
        return cls(**values)


def search_path(package_root: str, app_dir: str, base: list[str]) -> tuple[str, ...]:
    """sys.path for the workers: subserve's own location, the app dir and
    cwd, then main's. Workers must load the very same compiled engine as
    main (its registries are per shared object), even when the app dir
    holds another copy of subserve; the worker checks it did (IMAGE_ID)."""
    first = [package_root, os.path.abspath(app_dir), os.getcwd()]
    rest = [os.path.abspath(p) if p else os.getcwd() for p in base]
    return tuple(dict.fromkeys(first + rest))
