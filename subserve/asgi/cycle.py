"""Serve ASGI 3 HTTP requests on connections handed over by the engine.

Runs in: worker interpreters, on the interpreter's asyncio loop.

One ``HTTPCycle`` is one request: the ``scope``, ``receive`` and ``send`` of
the ASGI HTTP spec.  ``asgi.connections`` runs cycles one after another on
a connection and decides where it waits between requests.

Choices made here:

- I/O is ``asgi.loopsocket.LoopSocket``'s: the fd stays blocking (MSG_DONTWAIT),
  and ``send()`` returns once the kernel took every byte, so a slow reader
  suspends the app, never grows memory.  The request body is read only
  when the app awaits ``receive()``; a WebSocket handshake becomes a
  ``websocket.WebSocketCycle`` instead.
- The response head waits for the first body message and leaves with it in
  one ``sendmsg``.  Framing: the app's Content-Length; else the length of a
  single, final body message; else chunked on HTTP/1.1 and close-delimited
  on HTTP/1.0.  HEAD gets the GET headers and no body.  Hop-by-hop headers
  from the app are dropped; ``Connection: close`` among them is honoured.
- ``path`` is the whole decoded path, ``root_path`` the configured prefix
  (as uvicorn and Starlette expect).  ``server`` and ``client`` are None on
  a UNIX socket.  ``spec_version`` is 2.3: ``send()`` after the client left
  is a no-op, and ``receive()`` then returns ``http.disconnect``.
- An app error before the head went out answers 500 (400 for a malformed
  request body); after, the connection is closed to cut the response.
- Response trailers (the ASGI "http.response.trailers" extension, advertised
  in ``scope["extensions"]``): a response that announces them is chunked,
  and they leave with its last chunk.  With a Content-Length, on HEAD or on
  HTTP/1.0 there is nowhere to put them, and they are dropped.
"""

from __future__ import annotations

import _socket
import asyncio
import logging
import re
import socket
import time
from http import HTTPStatus
from typing import Any

from subserve import _engine
from subserve.asgi.loopsocket import LoopSocket, wake
from subserve.asgi.types import ASGIApp, Message, Scope
from subserve.errors import BadBody, ClientGone
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE, HTTP11, KEEP_ALIVE
from subserve.handoff.settings import WorkerSettings
from subserve.http.body import BodyDecoder
from subserve.http.target import decode_path, split_target
from subserve.http.wire import (
    CHUNKED_FRAMING,
    CONNECTION,
    CONTINUE,
    CRLF,
    DATE,
    END_CLOSE,
    END_KEEP_10,
    END_KEEP_11,
    HOP,
    LAST_CHUNK,
    LENGTH,
    PLAIN,
    RESPONSE_FIELD_KINDS,
    std_headers,
)
from subserve.worker.accesslog import AccessLog

BLOCK = 64 * 1024        # one recv
MAX_DRAIN = 1 << 20      # unread request body discarded to keep a connection
MAX_EXTRA = 64 * 1024    # pipelined bytes buffered while watching for a disconnect
FLUSH_DELAY = 0.05       # seconds an access line may wait for its batch

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search

# RESPONSE_FIELD_KINDS keyed by the bytes names ASGI apps send.
_SPECIAL = {name.encode(): kind for name, kind in RESPONSE_FIELD_KINDS.items()}
_CACHE_MAX = 1024

_DISCONNECT: Message = {"type": "http.disconnect"}
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}

# Response states of a cycle (_TRAILERS: the body ended, trailers are due).
_IDLE, _STARTED, _HEAD_SENT, _TRAILERS, _DONE = range(5)
_EXTENSIONS = {"http.response.trailers": {}}


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode("latin-1"))


_STATUS_LINES = {code: _status_line(code) for code in range(100, 600)}
_NO_BODY = BodyDecoder(False, 0)


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
        self.engine = engine
        self.client_timeout = settings.client_timeout
        self.keep_alive = settings.keep_alive
        self.ws = settings.websocket
        self.access_log = access_log
        self.error_log = error_log
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.template: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "scheme": settings.url_scheme,
            "root_path": settings.root_path.rstrip("/"),
        }
        self.header_lines: dict[tuple[bytes, bytes], tuple[int, bytes]] = {}
        # an app's whole header list, validated: (lines, length, close, own)
        self.header_blocks: dict[tuple[Any, ...], tuple[bytes, int | None, bool, int]] = {}
        self.flush_timer: asyncio.TimerHandle | None = None
        self.websockets: set[Any] = set()      # open WebSocket sessions
        self.background: set[asyncio.Task[Any]] = set()
        self.draining = False

    def log_access(self, *fields: Any) -> None:
        """One access line; lines are written in batches, at most FLUSH_DELAY late."""
        self.access_log.log(*fields)
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

    def header_line(self, name: Any, value: Any) -> tuple[int, bytes]:
        """Validate and encode one response header: (kind, b"name: value\\r\\n")."""
        key = (name, value)
        entry = self.header_lines.get(key) if type(name) is bytes else None
        if entry is None:
            entry = _learn_header(name, value)
            if len(self.header_lines) >= _CACHE_MAX:
                self.header_lines.clear()
            self.header_lines[key] = entry
        return entry


def _learn_header(name: Any, value: Any) -> tuple[int, bytes]:
    if not isinstance(name, (bytes, bytearray)) or not isinstance(value, (bytes, bytearray)):
        raise TypeError("ASGI header names and values must be bytes")
    name, value = bytes(name), bytes(value).strip(b" \t")
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"invalid header name {name!r}")
    if _BAD_VALUE(value) is not None:
        raise ValueError(f"invalid header value {value!r}")
    return _SPECIAL.get(name.lower(), PLAIN), name + b": " + value + CRLF


def build_scope(template: Scope, flags: int, record: bytes, state: dict[str, Any]) -> Scope:
    """The HTTP scope of one request head record (docs/internals.md).

    ``template`` gives ``scheme`` and ``root_path``.
    """
    parts = record.split(b"\0")
    raw_path, _, query = parts[1].partition(b"?")
    # find(), not ``in``: bytes.__contains__ first tries the operand as an int
    # and clears a TypeError, ten times the cost of the search itself
    if raw_path[:1] == b"/" and raw_path.find(b"%") < 0 and raw_path.isascii():
        path = raw_path.decode("ascii")  # the usual case: nothing to decode
    else:
        text, _, _authority = split_target(parts[1].decode("latin-1"))
        raw_path = text.encode("latin-1")
        path = decode_path(text).encode("latin-1").decode("utf-8", "replace")
    method, rport, sport = parts[0], parts[3], parts[5]
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
        "client": (parts[2].decode("latin-1"), int(rport)) if rport else None,
        "server": (parts[4].decode("latin-1"), int(sport)) if sport else None,
        "state": state.copy(),
        "extensions": _EXTENSIONS,
    }


class HTTPCycle(LoopSocket):
    """One request/response on a connection: the ASGI ``receive`` and ``send``."""

    # Per-request state starts as these class defaults: a request that never
    # waits sets only what it changes (this is the hot path of every request).
    extra = b""            # bytes read past the body while the app ran
    request_done = False   # the final http.request went to the app
    bad_body = False
    finished: asyncio.Future[None] | None = None  # set when the response ends
    state = _IDLE
    status = 0
    line = b""
    block = b""
    length: int | None = None
    close = False
    own = 3                # Date (1) and Server (2) lines still to add
    nobody = False
    chunked = False
    keep = False
    sent = 0
    started = 0.0
    trailers = False       # the app announced http.response.trailers

    def __init__(self, server: HTTPServer, item: tuple[int, int, int, bytes, bytes]) -> None:
        fd, flags, content_length, record, data = item
        # LoopSocket.__init__, inline: one call less on every request
        self.loop = server.loop
        self.fd = fd
        self.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, 0, fd)
        self.server = server
        self.client_timeout = server.client_timeout
        self.flags = flags
        self.scope = build_scope(server.template, flags, record, server.state)
        if content_length > 0 or flags & CHUNKED:
            self.body = BodyDecoder(bool(flags & CHUNKED), content_length, data)
            self.expect = bool(flags & EXPECT_CONTINUE)
        else:
            self.body = _NO_BODY  # shared: it is done and holds nothing
            self.extra = data     # everything read past the head is the next request
            self.expect = False
        if server.access_log is not None:
            self.started = time.perf_counter()

    # -- the cycle ------------------------------------------------------------

    async def run(self) -> tuple[bool, bytes]:
        """Run the app; return ``(keep_alive, leftover)`` for the engine."""
        try:
            await self.server.app(self.scope, self.receive, self.send)
        except ClientGone:
            self.gone = True
        except Exception:
            self.server.error_log.exception("error in the ASGI app serving %s %s",
                                            self.scope["method"], self.scope["raw_path"])
            await self._answer_error(500)
        else:
            if self.state == _TRAILERS:
                await self._send_trailers([])  # announced, never sent: end the body
            elif self.state != _DONE:
                if self.state == _IDLE:
                    self.server.error_log.error("the ASGI app returned without a response")
                await self._answer_error(500)
        if self.server.access_log is not None:
            self._log_access()
        body = self.body
        if self.keep and not self.gone and (body is _NO_BODY or body.done) and (
                self.length is None or self.nobody or self.sent == self.length):
            # the usual case, without a wait (_NO_BODY never holds a leftover)
            return True, self.extra if body is _NO_BODY else body.leftover() + self.extra
        return await self._keep_alive()

    async def _answer_error(self, status: int) -> None:
        if self.state >= _HEAD_SENT or self.gone:
            self.keep = False
            self.state = _DONE
            return
        if self.bad_body:
            status = 400
        body = b"Bad Request\n" if status == 400 else b"Internal Server Error\n"
        self.state = _IDLE
        self.sending = False
        headers = [(b"content-type", b"text/plain; charset=utf-8"),
                   (b"content-length", b"%d" % len(body))]
        if self.bad_body:
            headers.append((b"connection", b"close"))
        try:
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
        except ClientGone:
            self.gone = True

    async def _keep_alive(self) -> tuple[bool, bytes]:
        """Whether the connection can carry another request, and its leftover."""
        if not self.keep or self.gone or self.bad_body:
            return False, b""
        if self.length is not None and not self.nobody and self.sent != self.length:
            return False, b""  # the client still waits for the announced bytes
        if not self.body.done and not await self._drain():
            return False, b""
        return True, self.body.leftover() + self.extra

    async def _drain(self) -> bool:
        """Discard the unread request body, up to MAX_DRAIN bytes."""
        if self.expect:
            return False  # the client never got its 100 Continue
        budget = MAX_DRAIN
        try:
            while not self.body.done:
                budget -= len(self.body.read(BLOCK))
                if budget < 0:
                    return False
                if not self.body.done and not await self._fill():
                    return False
        except (BadBody, ClientGone):
            return False
        return True

    def _finish_waiters(self) -> None:
        """Wake a receive() waiting for a disconnect: the response ended or
        the client left."""
        if self.finished is not None:
            wake(self.finished)
        if self.request_done and self.reader is not None and not self.closed:
            self.loop.remove_reader(self.fd)
            wake(self.reader)
            self.reader = None

    # -- receive ----------------------------------------------------------------

    async def receive(self) -> Message:
        """The ASGI ``receive``: request body events, then ``http.disconnect``."""
        if self.request_done:
            await self._wait_disconnect()
            return _DISCONNECT
        if self.closed or self.gone:
            return _DISCONNECT
        try:
            data = self.body.read(BLOCK)
            while not data and not self.body.done:
                if self.expect:
                    await self._send_continue()
                if not await self._fill():
                    return _DISCONNECT
                data = self.body.read(BLOCK)
        except BadBody as exc:
            self.bad_body = True
            self.server.error_log.info("bad request body in %s %s: %s",
                                       self.scope["method"], self.scope["raw_path"], exc)
            return _DISCONNECT
        except ClientGone:
            return _DISCONNECT
        more = not self.body.done
        self.request_done = not more
        return {"type": "http.request", "body": data, "more_body": more}

    async def _send_continue(self) -> None:
        self.expect = False
        if self.state < _HEAD_SENT:
            await self._write([CONTINUE])

    async def _wait_disconnect(self) -> None:
        """Return when the client leaves or the response is over."""
        while not (self.gone or self.closed or self.state == _DONE):
            if len(self.extra) >= MAX_EXTRA:
                # a client sending more requests is not gone: stop reading
                if self.finished is None:
                    self.finished = self.loop.create_future()
                await asyncio.shield(self.finished)
                return
            try:
                data = self.sock.recv(BLOCK, socket.MSG_DONTWAIT)
            except BlockingIOError:
                try:
                    await self._ready(False, None)
                except ClientGone:
                    return
                continue
            except OSError:
                data = b""
            if not data:
                self.gone = True
                return
            self.extra += data  # pipelined requests: the engine gets them back

    async def _fill(self) -> bool:
        """Read once more of the request body; False at EOF."""
        while True:
            if self.closed:
                return False
            try:
                data = self.sock.recv(BLOCK, socket.MSG_DONTWAIT)
            except BlockingIOError:
                await self._ready(False, self.server.client_timeout)
                continue
            except OSError as exc:
                self.gone = True
                raise ClientGone(str(exc)) from exc
            if not data:
                self.gone = True
                self._finish_waiters()
                return False
            self.body.feed(data)
            return True

    # -- readiness waits --------------------------------------------------------

    # -- send -------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """The ASGI ``send``: ``http.response.start``, then body messages."""
        kind = message["type"]
        if kind == "http.response.body":
            if self.state not in (_STARTED, _HEAD_SENT):
                raise RuntimeError("http.response.body before http.response.start"
                                   if self.state == _IDLE else "the response is already complete")
            bufs = self._body_buffers(message.get("body", b""), message.get("more_body", False))
            if bufs:
                bufs = self._send_now(bufs)  # the usual case: sent without a coroutine
                if bufs:
                    await self._write_rest(bufs)
        elif kind == "http.response.start":
            if self.state != _IDLE:
                raise RuntimeError("http.response.start sent twice")
            self._start(message)
        elif kind == "http.response.trailers":
            if self.state != _TRAILERS:
                raise RuntimeError("http.response.trailers without trailers announced, "
                                   "or before the body ended")
            self.trailer_lines.extend(
                self.server.header_line(name, value)[1] for name, value in message.get("headers", ()))
            if not message.get("more_trailers", False):
                await self._send_trailers(self.trailer_lines)
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r} for an HTTP request")

    def _start(self, message: Message) -> None:
        status = message["status"]
        line = _STATUS_LINES.get(status) if type(status) is int else None
        if line is None:
            raise ValueError(f"invalid HTTP status {status!r}")
        headers = message.get("headers", ())
        blocks = self.server.header_blocks
        key = entry = None
        if type(headers) is list or type(headers) is tuple:
            key = tuple(headers)  # apps mostly send the same header lists again
            try:
                entry = blocks.get(key)
            except TypeError:  # unhashable pairs: _header_block says what is wrong
                key = None
        if entry is None:
            entry = self._header_block(headers)
            if key is not None:
                if len(blocks) >= _CACHE_MAX:
                    blocks.clear()
                blocks[key] = entry
        self.line = line
        self.block, self.length, self.close, self.own = entry
        self.status = status
        self.nobody = status < 200 or status in (204, 304) or self.scope["method"] == "HEAD"
        if message.get("trailers", False):
            self.trailers = True
            self.trailer_lines: list[bytes] = []
        self.state = _STARTED

    def _header_block(self, headers: Any) -> tuple[bytes, int | None, bool, int]:
        """Validate an app's headers: (lines, Content-Length, close asked, own lines)."""
        lines = []
        length = None
        close = False
        own = 3
        header_line = self.server.header_line
        for name, value in headers:
            kind, text = header_line(name, value)
            if not kind:
                lines.append(text)
            elif kind == LENGTH:
                length = _content_length(value, length)
            elif kind == CONNECTION:
                close = close or b"close" in value.lower()
            elif kind != HOP:
                own &= ~1 if kind == DATE else ~2
                lines.append(text)
        return b"".join(lines), length, close, own

    def _body_buffers(self, body: bytes, more: bool) -> list[bytes]:
        """What one body message puts on the wire (head included, once)."""
        if type(body) is not bytes:
            body = bytes(body)
        if self.gone:
            self._end(more)
            return []  # spec 2.3: a no-op once the client left
        if self.state == _STARTED and not more and not self.nobody and not self.trailers:
            # the usual response, one body message: head and body leave together
            self.state = _HEAD_SENT
            length = self.length
            if length is None:
                length = len(body)
            elif len(body) > length:
                body = body[:length]
            head = self._head(length)
            self.sent = len(body)
            self._end(False)
            return [head, body] if body else [head]
        bufs: list[bytes] = []
        if self.state == _STARTED:
            self.state = _HEAD_SENT
            length = self.length
            if length is None and not more and not self.trailers:
                length = len(body)  # trailers need the chunked framing instead
            bufs.append(self._head(length))
        if not self.nobody:
            if self.chunked:
                if body:
                    bufs += (b"%x\r\n" % len(body), body, CRLF)
                if not more and not self.trailers:
                    bufs.append(LAST_CHUNK)
            elif body:
                if self.length is not None:
                    body = body[:max(self.length - self.sent, 0)]
                bufs.append(body)
            self.sent += len(body)
        self._end(more)
        return bufs

    def _end(self, more: bool) -> None:
        if not more:
            if self.trailers:
                self.state = _TRAILERS  # the last chunk goes with the trailers
                return
            self.state = _DONE
            self._finish_waiters()

    async def _send_trailers(self, lines: list[bytes]) -> None:
        """End the response: the last chunk with the trailer fields (RFC 9112
        7.1.2), which only a chunked body can carry; otherwise they are dropped."""
        self.state = _DONE
        self._finish_waiters()
        if self.chunked and not self.gone:
            await self._write([b"0\r\n", *lines, CRLF])

    def _head(self, length: int | None) -> bytes:
        """The response head; decides framing and keep-alive."""
        flags = self.flags
        keep = bool(flags & KEEP_ALIVE) and not self.close
        status = self.status
        if status < 200 or status in (204, 304):
            framing = b"Content-Length: %d\r\n" % self.length if (
                status == 304 and self.length is not None) else b""
            keep = keep and status >= 200
        elif length is not None:
            framing = b"Content-Length: %d\r\n" % length
        elif self.nobody:
            framing = b""  # HEAD: GET would be chunked, there is no body to frame
        elif flags & HTTP11:
            framing = CHUNKED_FRAMING
            self.chunked = True
        else:
            framing, keep = b"", False  # HTTP/1.0: the close ends the body
        if keep:
            keep = self._may_keep()
        self.keep = keep
        end = (END_KEEP_11 if flags & HTTP11 else END_KEEP_10) if keep else END_CLOSE
        return b"".join((self.line, self.block, std_headers(self.own), framing, end))

    def _may_keep(self) -> bool:
        body = self.body
        if self.bad_body or self.gone:
            return False
        if not body.done and (self.expect or body.remaining_hint() > MAX_DRAIN):
            self.expect = False  # no 100 Continue after the final response
            return False
        return not self.server.engine.draining

    def _log_access(self) -> None:
        scope = self.scope
        client = scope["client"]
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        self.server.log_access(client[0] if client else "-", scope.get("method", "GET"), target,
                               "HTTP/" + scope["http_version"], self.status, self.sent,
                               time.perf_counter() - self.started)


def _content_length(value: bytes, previous: int | None) -> int:
    value = value.strip()
    if not value.isdigit():
        raise ValueError(f"invalid Content-Length {value!r}")
    length = int(value)
    if previous is not None and previous != length:
        raise ValueError("conflicting Content-Length headers")
    return length
