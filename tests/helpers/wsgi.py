"""A WSGIHandler as a worker builds it, small WSGI apps, chunked bodies.

Runs in: the test process (the handler writes to a socketpair, helpers.conn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from subserve.wsgi.handler import WSGIHandler

from .logs import ListHandler
from .settings import worker_settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def make_handler(app: WSGIApp, error_log: tuple[logging.Logger, ListHandler] | None = None, *,
                 access_log: Any = None, is_draining: Callable[[], bool] = lambda: False,
                 max_drain: int | None = None, **config: Any) -> WSGIHandler:
    """A handler as a worker builds it; ``config``: Config fields (root_path...)."""
    logger = error_log[0] if error_log else logging.getLogger("subserve.test.quiet")
    handler = WSGIHandler(app, worker_settings(**config), access_log=access_log,
                          error_log=logger, is_draining=is_draining)
    if max_drain is not None:
        handler.max_drain = max_drain
    return handler


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Echo the body read with read(); report what the environ said."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("X-Len", environ.get("CONTENT_LENGTH", "none"))])
    return [body]


def stream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one,"
    yield b""
    yield b"two"


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    """A chunked request body of ``parts``, then the last chunk and ``trailer``."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return out + b"0\r\n" + trailer + b"\r\n"
