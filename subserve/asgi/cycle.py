"""Serve ASGI 3 HTTP requests on connections handed over by the engine.

Runs in: worker interpreters, on the interpreter's asyncio loop.

One ``HTTPCycle`` is one request: the ``scope``, ``receive`` and ``send`` of
the ASGI HTTP spec.  ``asgi.connections`` runs cycles one after another on
a connection and decides where it waits between requests. The rules of the
response head are ``http.response``'s; this module is their asyncio adapter.

Choices made here:

- I/O is ``asgi.loopsocket.LoopSocket``'s: the fd stays blocking (MSG_DONTWAIT),
  and ``send()`` returns once the kernel took every byte, so a slow reader
  suspends the app, never grows memory.  The request body is read only
  when the app awaits ``receive()``.
- The response head waits for the first body message and leaves with it in
  one ``sendmsg``; a single, final body message gives the body's length.
  Bytes beyond the app's Content-Length are cut, with one warning.
- An app error before the head went out answers 500 (400 for a malformed
  request body, 413 for a chunked one past ``--limit-request-body``: the
  app's ``receive()`` gets ``http.disconnect`` instead of the bytes over the
  limit); after, the connection is closed to cut the response.
- Response trailers (the ASGI "http.response.trailers" extension, advertised
  in ``scope["extensions"]``): a response that announces them is chunked,
  and they leave with its last chunk.  With a Content-Length, on HEAD or on
  HTTP/1.0 there is nowhere to put them, and they are dropped.
"""

from __future__ import annotations

import _socket
import asyncio
import socket
import time

from subserve.asgi.loopsocket import LoopSocket, wake
from subserve.asgi.scope import build_scope
from subserve.asgi.server import HTTPServer
from subserve.asgi.types import Message
from subserve.errors import BadBody, BodyTooLarge, ClientGone
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE, HTTP11, KEEP_ALIVE, Item
from subserve.http.body import BodyDecoder
from subserve.http.response import (
    MAX_DRAIN,
    NO_HEADERS,
    bodyless,
    clip,
    drainable,
    error_page,
    head,
)
from subserve.http.wire import CONTINUE, CRLF, LAST_CHUNK
from subserve.http.wire import READ_BLOCK as BLOCK

MAX_EXTRA = 64 * 1024    # pipelined bytes buffered while watching for a disconnect

_DISCONNECT: Message = {"type": "http.disconnect"}

# Response states of a cycle (_TRAILERS: the body ended, trailers are due).
_IDLE, _STARTED, _HEAD_SENT, _TRAILERS, _DONE = range(5)
_NO_BODY = BodyDecoder(False, 0)


class HTTPCycle(LoopSocket):
    """One request/response on a connection: the ASGI ``receive`` and ``send``."""

    # Per-request state starts as these class defaults: a request that never
    # waits sets only what it changes (this is the hot path of every request).
    extra = b""            # bytes read past the body while the app ran
    request_done = False   # the final http.request went to the app
    bad_body = 0           # the status a malformed or oversized request body is answered with
    answering = False      # the server sends its own error response
    finished: asyncio.Future[None] | None = None  # set when the response ends
    state = _IDLE
    status = 0
    line = b""
    block = NO_HEADERS     # the app's headers, validated (http.response.HeaderBlock)
    nobody = False         # a status without content, or HEAD
    chunked = False
    keep = False
    sent = 0
    started = 0.0
    trailers = False       # the app announced http.response.trailers
    overflow = False       # the app sent past its Content-Length

    def __init__(self, server: HTTPServer, item: Item) -> None:
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
            self.body = BodyDecoder(bool(flags & CHUNKED), content_length, data,
                                    server.body_limit)
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
        except (Exception, SystemExit):  # SystemExit too: it ends no worker
            if self.bad_body:  # the app failed on the disconnect it got instead of the body
                self.server.error_log.debug("the ASGI app failed after a refused request body",
                                            exc_info=True)
            else:
                self.server.error_log.exception("error in the ASGI app serving %s %s",
                                                self.scope["method"], self.scope["raw_path"])
            await self._answer_error(500)
        else:
            if self.state == _TRAILERS:
                await self._send_trailers([])  # announced, never sent: end the body
            elif self.state != _DONE:
                if self.state == _IDLE and not self.bad_body:
                    self.server.error_log.error("the ASGI app returned without a response")
                await self._answer_error(500)
        if self.server.access_log is not None:
            self.server.log_request(self.scope, self.status, self.sent, self.started)
        body = self.body
        length = self.block.length
        if self.keep and not self.gone and (body is _NO_BODY or body.done) and (
                length is None or self.nobody or self.sent == length):
            # the usual case, without a wait (_NO_BODY never holds a leftover)
            return True, self.extra if body is _NO_BODY else body.leftover() + self.extra
        return await self._keep_alive()

    async def _answer_error(self, status: int) -> None:
        if self.state >= _HEAD_SENT or self.gone:
            self.keep = False
            self.state = _DONE
            return
        if self.bad_body:
            status = self.bad_body
        _reason, body = error_page(status)
        self.state = _IDLE
        self.sending = False
        headers = [(b"content-type", b"text/plain; charset=utf-8"),
                   (b"content-length", b"%d" % len(body))]
        if self.bad_body:
            headers.append((b"connection", b"close"))
        self.answering = True
        try:
            await self.send({"type": "http.response.start", "status": status, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
        except ClientGone:
            self.gone = True
        finally:
            self.answering = False

    async def _keep_alive(self) -> tuple[bool, bytes]:
        """Whether the connection can carry another request, and its leftover."""
        if not self.keep or self.gone or self.bad_body:
            return False, b""
        length = self.block.length
        if length is not None and not self.nobody and self.sent != length:
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
            self.bad_body = exc.status_hint
            self.server.error_log.info("%s in %s %s: %s", "request body too large"
                                       if isinstance(exc, BodyTooLarge) else "bad request body",
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

    # -- send -------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """The ASGI ``send``: ``http.response.start``, then body messages."""
        if self.bad_body and not self.answering:
            return  # the app got http.disconnect for its body: the server answers
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
            line = self.server.encoder.line
            self.trailer_lines.extend(line(pair) for pair in message.get("headers", ()))
            if not message.get("more_trailers", False):
                await self._send_trailers(self.trailer_lines)
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r} for an HTTP request")

    def _start(self, message: Message) -> None:
        status = message["status"]
        _code, self.line, self.block = self.server.encoder.start(status, message.get("headers", ()))
        self.status = status
        self.nobody = bodyless(status) or self.scope["method"] == "HEAD"
        if message.get("trailers", False):
            self.trailers = True
            self.trailer_lines: list[bytes] = []
        self.state = _STARTED

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
            length = self.block.length
            if length is None:
                length = len(body)
            elif len(body) > length:
                body = self._clip(body, length)
            head = self._head(length)
            self.sent = len(body)
            self._end(False)
            return [head, body] if body else [head]
        bufs: list[bytes] = []
        if self.state == _STARTED:
            self.state = _HEAD_SENT
            length = self.block.length
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
                if self.block.length is not None:
                    body = self._clip(body, self.block.length)
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
        data, self.chunked, self.keep = head(self.status, self.line, self.block, length,
                                             self.scope["method"] == "HEAD", flags & HTTP11 != 0,
                                             flags & KEEP_ALIVE != 0, self._may_keep)
        return data

    def _may_keep(self) -> bool:
        body = self.body
        if self.bad_body or self.gone:
            return False
        if not body.done and not drainable(self.expect, body.remaining_hint()):
            self.expect = False  # no 100 Continue after the final response
            return False
        return not self.server.engine.draining

    def _clip(self, body: bytes, length: int) -> bytes:
        """Cut what would exceed the app's Content-Length (warning once)."""
        cut = clip(body, length, self.sent)
        if len(cut) < len(body) and not self.overflow:
            self.overflow = True
            self.server.error_log.warning(
                "ASGI app sent more than its Content-Length (%d); the excess is dropped", length)
        return cut
