"""The server's configuration: one object, built by the CLI, read by the rest.

Runs in: the main interpreter. Workers get a ``WorkerSettings`` derived from
it (``Config.worker_settings``), never the object. The limits and timeouts
the C engine enforces default to the engine's own constants.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from subserve import _engine
from subserve.handoff.settings import WebSocketSettings, WorkerSettings, search_path

# The directory holding the subserve package: first on the workers' sys.path.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Config:
    app: str
    factory: bool = False
    app_dir: str = "."
    binds: tuple[str, ...] = ("127.0.0.1:8000",)
    fds: tuple[int, ...] = ()
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    threads: int = 1
    backlog: int = 2048
    keepalive: float = _engine.DEFAULT_KEEPALIVE
    header_timeout: float = _engine.DEFAULT_HEADER_TIMEOUT
    client_timeout: float = _engine.DEFAULT_CLIENT_TIMEOUT
    graceful_timeout: float = 30.0
    timeout: float = 30.0         # seconds a request may run without sending anything
    boot_timeout: float = 120.0
    access_log: bool = True
    log_level: str = "info"
    root_path: str = ""
    url_scheme: str = "http"
    limit_request_line: int = _engine.DEFAULT_MAX_LINE
    limit_request_fields: int = _engine.DEFAULT_MAX_FIELDS
    limit_request_field_size: int = _engine.DEFAULT_MAX_FIELD
    limit_request_head: int = _engine.DEFAULT_MAX_HEAD
    limit_request_body: int = 0   # bytes; 0: no limit (README says why)
    queue_capacity: int = 4096
    worker_kind: str = "auto"     # auto | interpreter | thread | process
    supervisor: bool = True       # a parent process that restarts the serving one
    interface: str = "auto"       # auto | wsgi | asgi
    lifespan: str = "auto"        # auto | on | off (ASGI only)
    ws_max_size: int = 16 * 1024 * 1024   # uvicorn's defaults
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_per_message_deflate: bool = True

    def worker_settings(self, queue_id: int, engine_id: int, *, kind: str = "interpreter",
                        first_index: int = 0, supervised: bool = False) -> WorkerSettings:
        """The plain values each worker needs; ``kind`` is the resolved worker
        kind (never auto), ``first_index`` the name of the pool's first worker."""
        return WorkerSettings(
            app=self.app,
            factory=self.factory,
            worker_kind=kind,
            first_index=first_index,
            supervised=supervised,
            interface=self.interface,
            lifespan=self.lifespan,
            threads=self.threads,
            access_log=self.access_log,
            log_level=self.log_level,
            root_path=self.root_path,
            url_scheme=self.url_scheme,
            client_timeout=self.client_timeout,
            timeout=self.timeout,
            keep_alive=self.keepalive,
            limit_request_body=self.limit_request_body,
            websocket=WebSocketSettings(
                max_size=self.ws_max_size,
                ping_interval=self.ws_ping_interval,
                ping_timeout=self.ws_ping_timeout,
                per_message_deflate=self.ws_per_message_deflate,
            ),
            queue_id=queue_id,
            engine_id=engine_id,
            search_path=search_path(PACKAGE_ROOT, self.app_dir, sys.path),
            engine_image=_engine.IMAGE_ID,
            engine_file=_engine.__file__,
        )
