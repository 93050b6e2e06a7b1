"""What every request of one ASGI worker interpreter shares.

Runs in: worker interpreters, on the interpreter's asyncio loop.

``HTTPServer`` holds the app, the settings, the engine handle, the
response-head encoder and its caches, the access log and its flush timer,
and the open WebSocket sessions that a graceful stop must close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from subserve import _engine
from subserve.asgi.types import ASGIApp, Scope
from subserve.handoff.settings import WorkerSettings
from subserve.http.response import HeadEncoder
from subserve.worker.accesslog import AccessLog

FLUSH_DELAY = 0.05       # seconds an access line may wait for its batch


class Session(Protocol):
    """An open WebSocket session, as a graceful stop sees it."""

    def shut_down(self) -> None: ...


class HTTPServer:
    """What every request of one worker interpreter shares."""

    def __init__(
        self,
        app: ASGIApp,
        settings: WorkerSettings,
        *,
        engine: _engine.Engine,
        access_log: AccessLog | None,
        error_log: logging.Logger,
        state: dict[str, Any],
    ) -> None:
        self.app = app
        self.engine = engine              # bound in this interpreter (worker.bootstrap)
        self.client_timeout = settings.client_timeout
        self.keep_alive = settings.keep_alive
        self.body_limit = settings.limit_request_body
        self.ws = settings.websocket
        self.access_log = access_log
        self.error_log = error_log
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.template: Scope = {
            "scheme": settings.url_scheme,
            "root_path": settings.root_path.rstrip("/"),
        }
        self.encoder = HeadEncoder(text=False)   # validated statuses and headers, cached
        self.flush_timer: asyncio.TimerHandle | None = None
        self.websockets: set[Session] = set()   # open WebSocket sessions
        self.background: set[asyncio.Task[Any]] = set()
        self.draining = False

    def log_request(self, scope: Scope, status: int, sent: int, started: float) -> None:
        """One access line for a request or WebSocket session; lines are
        written in batches, at most FLUSH_DELAY late."""
        client = scope["client"]
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        self.access_log.log(client[0] if client else "-", scope.get("method", "GET"), target,
                            "HTTP/" + scope["http_version"], status, sent,
                            time.perf_counter() - started)
        if self.flush_timer is None:
            self.flush_timer = self.loop.call_later(FLUSH_DELAY, self.flush_access)

    def flush_access(self) -> None:
        self.flush_timer = None
        if self.access_log is not None:
            self.access_log.flush()

    def on_drain(self) -> None:
        """A graceful stop began: close open WebSockets with 1001 (going away)."""
        self.draining = True
        for session in list(self.websockets):
            session.shut_down()
