"""The ASGI lifespan protocol: startup before serving, shutdown after.

Runs in: worker interpreters, on the interpreter's asyncio loop.  Every
interpreter runs its own lifespan: its own app instance, its own ``state``.

Modes (``--lifespan``): ``on`` requires the app to support lifespan; ``off``
never sends it; ``auto`` treats an app that raises (or returns) before
answering ``startup`` as having no lifespan, and serves it anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from subserve import log as logs
from subserve.asgi.types import ASGIApp, Message
from subserve.errors import LifespanFailed

log = logging.getLogger(logs.ERROR)

MODES = ("auto", "on", "off")


class Lifespan:
    """Runs the app's lifespan task; ``state`` goes (copied) into request scopes."""

    def __init__(self, app: ASGIApp, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"lifespan mode must be one of {MODES}, not {mode!r}")
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._answer: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Run startup; LifespanFailed if the app reports or raises a failure."""
        if not self.supported:
            return
        self._task = asyncio.create_task(self._main())
        answer = await self._ask("lifespan.startup")
        if answer is None:
            return  # auto mode, no lifespan support
        if answer["type"] == "lifespan.startup.failed":
            raise LifespanFailed(f"ASGI lifespan startup failed: {answer.get('message') or ''}")

    async def shutdown(self) -> None:
        """Run shutdown (only after a successful startup); failures are logged."""
        if not self.supported or self._task is None or self._task.done():
            return
        answer = await self._ask("lifespan.shutdown")
        if answer is not None and answer["type"] == "lifespan.shutdown.failed":
            log.error("ASGI lifespan shutdown failed: %s", answer.get("message") or "")
        await asyncio.wait([self._task], timeout=5)

    async def _ask(self, event: str) -> Message | None:
        """Send ``event``; the app's answer, or None when the app ended instead."""
        self._answer = asyncio.get_running_loop().create_future()
        await self._inbox.put({"type": event})
        await asyncio.wait([self._answer, self._task], return_when=asyncio.FIRST_COMPLETED)
        if self._answer.done():
            return self._answer.result()
        return self._ended_early(event)

    def _ended_early(self, event: str) -> Message | None:
        exc = self._task.exception() if not self._task.cancelled() else None
        if self.mode == "auto" and event == "lifespan.startup":
            if exc is not None:
                log.info("ASGI lifespan not supported by the app (%s: %s); serving without it",
                         type(exc).__name__, exc)
            self.supported = False
            return None
        if exc is not None:
            raise LifespanFailed(f"ASGI lifespan {event.partition('.')[2]} raised "
                                 f"{type(exc).__name__}: {exc}") from exc
        raise LifespanFailed(f"the ASGI app returned during {event} without answering")

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        await self.app(scope, self._inbox.get, self._send)

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind not in ("lifespan.startup.complete", "lifespan.startup.failed",
                        "lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            raise ValueError(f"unexpected ASGI lifespan message {kind!r}")
        if self._answer is None or self._answer.done():
            raise RuntimeError(f"{kind} sent without a pending lifespan event")
        self._answer.set_result(message)
