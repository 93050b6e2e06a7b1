"""Serve one WSGI request (PEP 3333) on a connection handed over by the engine.

Runs in: worker interpreters.

``WSGIHandler.handle(item)`` builds the environ, calls the app, writes the
response to the item's socket (``wsgi.response``) and returns
``(keep_alive, leftover)`` for the serve loop, which hands the fd back to
the engine (``Engine.close_connection``, ``next_request`` or ``park``); it
never closes the fd.

Choices made here (the response head's rules are ``http.response``'s):

- An app error before anything was sent answers 500; the connection stays
  open when its framing is intact (body drained within ``max_drain``), as
  for any response.  After the head went out, the connection is closed to
  abort the response.  A malformed request body answers 400 and closes; a
  chunked one past ``--limit-request-body`` answers 413 and closes (the
  app's ``wsgi.input`` read raises ``BodyTooLarge``, a ``BadBody``).
- The fd goes back to the engine after the request, and may soon carry
  another client: a ``write`` or ``wsgi.input`` the app kept is cut off.
- With ``--timeout``, each handler thread has a watchdog ``Slot``: a request
  that makes no progress for that long gets ``RequestTimeout`` raised in it,
  answered 504 (connection closing), or the connection closed if the
  response had started (``worker.watchdog``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from subserve.errors import BadBody, BodyTooLarge, ClientGone
from subserve.handoff.item import CHUNKED
from subserve.handoff.settings import WorkerSettings
from subserve.http.response import MAX_DRAIN, HeadEncoder, error_page
from subserve.worker.accesslog import AccessLog
from subserve.worker.watchdog import RequestTimeout, Watchdog
from subserve.wsgi.environ import EnvironBuilder
from subserve.wsgi.input import NO_BODY, WSGIInput
from subserve.wsgi.response import WSGIResponse
from subserve.wsgi.streams import ErrorStream, FileWrapper


class WSGIHandler:
    """Serves requests for one WSGI app; shared by a worker's threads."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        settings: WorkerSettings,
        *,
        access_log: AccessLog | None,
        error_log: logging.Logger,
        is_draining: Callable[[], bool],
        watchdog: Watchdog | None = None,
    ) -> None:
        self.app = app
        # made on the handler thread that serves with it: the slot is that thread's
        self.slot = watchdog.slot() if watchdog is not None else None
        self.access_log = access_log
        self.error_log = error_log
        self.is_draining = is_draining
        self.max_drain = MAX_DRAIN
        self.body_limit = settings.limit_request_body
        self.encoder = HeadEncoder(text=True)  # validated statuses and headers, cached
        self.builder = EnvironBuilder(
            url_scheme=settings.url_scheme,
            root_path=settings.root_path,
            multithread=settings.threads > 1,
            extra={"wsgi.errors": ErrorStream(error_log), "wsgi.file_wrapper": FileWrapper},
        )

    def handle(self, item: tuple[int, int, int, bytes, bytes]) -> tuple[bool, bytes]:
        """Serve the request in ``item``; return ``(keep_alive, leftover)``."""
        if self.slot is None:
            return self._serve(item)
        try:
            return self._serve(item)
        finally:
            self.slot.end()

    def _serve(self, item: tuple[int, int, int, bytes, bytes]) -> tuple[bool, bytes]:
        fd, flags, content_length, record, data = item
        start = time.perf_counter() if self.access_log is not None else 0.0
        environ = self.builder.build(record, flags, content_length)
        if content_length > 0 or flags & CHUNKED:
            inp = WSGIInput(fd, flags, content_length, data, self.body_limit)
        else:
            inp = NO_BODY
        environ["wsgi.input"] = inp
        resp = WSGIResponse(self, fd, flags, inp, environ["REQUEST_METHOD"] == "HEAD")
        if self.slot is not None:
            self.slot.begin(fd, resp, environ)
        try:
            result = self.app(environ, resp.start_response)
            try:
                resp.serve(result)
            finally:
                if type(result) is not list:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            keep = resp.keep_alive()
        except (Exception, SystemExit) as exc:  # SystemExit too: it ends no worker
            keep = self._failed(environ, resp, exc)
        except RequestTimeout:
            keep = False if resp.head_sent or resp.gone else self._send_error(resp, 504)
        leftover = b""
        if keep:
            if inp is NO_BODY:
                leftover = data
            elif inp.drain(self.max_drain):
                leftover = inp.leftover()
            else:
                keep = False
        # The fd goes back to the engine and may soon carry another client:
        # an app that kept write() or wsgi.input must not reach it.
        resp.fd = -1
        if inp is not NO_BODY:
            inp.detach()
        if self.access_log is not None:
            self._log_access(environ, resp, start)
        return keep, leftover

    def _failed(self, environ: dict[str, Any], resp: WSGIResponse, exc: BaseException) -> bool:
        """Answer 400/500 for an exception if still possible; keep-alive?"""
        # the app may have rewritten the environ: read it defensively
        method, target = environ.get("REQUEST_METHOD"), environ.get("RAW_URI")
        if resp.gone or isinstance(exc, ClientGone):
            self.error_log.debug("client gone during %s %s: %s", method, target, exc)
            return False
        if isinstance(exc, BadBody):
            status = exc.status_hint
            self.error_log.info("%s in %s %s: %s", "request body too large"
                                if isinstance(exc, BodyTooLarge) else "bad request body",
                                method, target, exc)
        else:
            status = 500
            self.error_log.exception("error in the WSGI app serving %s %s", method, target)
        if resp.head_sent:
            return False  # abort: the client sees the response cut short
        return self._send_error(resp, status)

    def _send_error(self, resp: WSGIResponse, status: int) -> bool:
        reason, body = error_page(status)
        headers = [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(body)))]
        if status in (400, 413, 504) or resp.inp.broken:
            headers.append(("Connection", "close"))
        resp.reset()
        try:
            resp.start_response(f"{status} {reason}", headers)
            resp.serve([body])
        except ClientGone:
            return False
        return resp.keep_alive()

    def _log_access(self, environ: dict[str, Any], resp: WSGIResponse, start: float) -> None:
        get = environ.get
        self.access_log.log(
            get("REMOTE_ADDR") or "-",
            get("REQUEST_METHOD"),
            get("RAW_URI"),
            get("SERVER_PROTOCOL"),
            resp.code,
            resp.sent,
            time.perf_counter() - start,
        )
