"""The ASGI connection scope of one request head record, HTTP or WebSocket.

Runs in: worker interpreters.

Choices made here:

- ``path`` is the whole decoded path (UTF-8, undecodable bytes replaced),
  ``raw_path`` the path as sent, ``root_path`` the configured prefix, as
  uvicorn and Starlette expect. ``server`` and ``client`` are None on a
  UNIX socket. Header names are lower-cased by the engine's parser.
- ``spec_version`` is 2.3: ``send()`` after the client left is a no-op.
  ``state`` is a shallow copy of lifespan's, per request.
- A request is a WebSocket handshake (RFC 6455 4.1) when it is a GET with
  ``Upgrade: websocket``, version 13 and a key; the engine flags the
  upgrade, the fields are read here, once, and the scope built once.
"""

from __future__ import annotations

from typing import Any

from subserve.asgi.types import Scope
from subserve.handoff.item import HTTP11
from subserve.http.target import decode_path, split_target

_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}
EXTENSIONS = {"http.response.trailers": {}}


def _path(target: bytes) -> tuple[str, bytes, bytes]:
    """(path, raw_path, query_string) of a request target."""
    raw_path, _, query = target.partition(b"?")
    # find(), not ``in``: bytes.__contains__ first tries the operand as an int
    # and clears a TypeError, ten times the cost of the search itself
    if raw_path[:1] == b"/" and raw_path.find(b"%") < 0 and raw_path.isascii():
        return raw_path.decode("ascii"), raw_path, query  # the usual case: nothing to decode
    text, _, _authority = split_target(target.decode("latin-1"))
    path = decode_path(text).encode("latin-1").decode("utf-8", "replace")
    return path, text.encode("latin-1"), query


def _peer(addr: bytes, port: bytes) -> tuple[str, int] | None:
    return (addr.decode("latin-1"), int(port)) if port else None


def build_scope(template: Scope, flags: int, record: bytes, state: dict[str, Any]) -> Scope:
    """The HTTP scope of one request head record (docs/internals.md).

    ``template`` gives ``scheme`` and ``root_path``.
    """
    parts = record.split(b"\0")
    path, raw_path, query = _path(parts[1])
    method = parts[0]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1" if flags & HTTP11 else "1.0",
        "method": _METHODS.get(method) or method.decode("latin-1"),
        "scheme": template["scheme"],
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": template["root_path"],
        "headers": [(parts[i], parts[i + 1]) for i in range(6, len(parts), 2)],
        "client": _peer(parts[2], parts[3]),
        "server": _peer(parts[4], parts[5]),
        "state": state.copy(),
        "extensions": EXTENSIONS,
    }


def websocket_scope(template: Scope, flags: int, record: bytes,
                    state: dict[str, Any]) -> Scope | None:
    """The WebSocket scope of a handshake request, or None when the request
    is not a WebSocket handshake (the app then answers it as plain HTTP)."""
    parts = record.split(b"\0")
    if parts[0] != b"GET":
        return None
    headers = [(parts[i], parts[i + 1]) for i in range(6, len(parts), 2)]
    fields = dict(headers)
    if (b"websocket" not in fields.get(b"upgrade", b"").lower()
            or fields.get(b"sec-websocket-version") != b"13"
            or not fields.get(b"sec-websocket-key")):
        return None
    offered = fields.get(b"sec-websocket-protocol", b"").decode("latin-1")
    path, raw_path, query = _path(parts[1])
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1" if flags & HTTP11 else "1.0",
        "scheme": "wss" if template["scheme"] == "https" else "ws",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": template["root_path"],
        "headers": headers,
        "client": _peer(parts[2], parts[3]),
        "server": _peer(parts[4], parts[5]),
        "subprotocols": [p.strip() for p in offered.split(",") if p.strip()],
        "state": state.copy(),
    }
