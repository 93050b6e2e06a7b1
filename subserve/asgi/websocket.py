"""ASGI WebSockets (RFC 6455) on a connection upgraded in a worker interpreter.

Runs in: worker interpreters, on the interpreter's asyncio loop.

The C engine parsed the handshake request (``asgi.scope`` tells a WebSocket
handshake and builds its scope); wsproto (pure Python, so it loads in an
OWN_GIL interpreter) frames messages once the app accepted. A session is a
``LoopSocket`` of its own, not an HTTP cycle: it shares the HTTP code's
scope builder, head encoder and access log, nothing of its state. The
connection stays with this interpreter until it closes, then goes back to
the engine to be closed.

Choices made here:

- A reader task reads frames as they come, answers pings, and queues whole
  messages for ``receive()``; the queue is bounded, so a client sending
  faster than the app receives is held back by TCP, not by our memory.
  A message over ``--ws-max-size`` bytes (after decompression) closes the
  connection with 1009.
- Every ``--ws-ping-interval`` seconds the server pings; no pong within
  ``--ws-ping-timeout`` closes with 1011, as a dead peer would otherwise
  hold the session until TCP gives up (uvicorn's and websockets' defaults).
- permessage-deflate (RFC 7692) is accepted when the client offers it and
  ``--ws-per-message-deflate`` is on, unless the app's accept sets
  Sec-WebSocket-Extensions itself.
- The app returning (or closing) before ``websocket.accept`` answers 403;
  an error before accept answers 500; after accept, 1011.
- A graceful stop closes open WebSockets with 1001 (``HTTPServer.on_drain``;
  a session accepted after that is closed right after its accept).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake
from wsproto.utilities import RemoteProtocolError, generate_accept_token

from subserve.asgi.loopsocket import LoopSocket
from subserve.asgi.server import HTTPServer
from subserve.asgi.types import Scope
from subserve.errors import ClientGone
from subserve.handoff.item import Item
from subserve.http.response import NO_HEADERS, STATUS_LINES, head
from subserve.http.wire import READ_BLOCK as BLOCK

INBOX = 16                # whole messages queued for receive()
CLOSE_WAIT = 2.0          # seconds to wait for the client's close frame


def _never() -> bool:
    return False


def _refusal(status: int) -> bytes:
    """The whole response refusing a handshake (403 or 500): empty, closing."""
    return head(status, STATUS_LINES[status], NO_HEADERS, 0, False, True, False, _never)[0]


class WebSocketSession(LoopSocket):
    """One WebSocket session: the ASGI ``websocket`` scope, receive and send."""

    accepted = False
    refused = False           # a 403 or 500 answered the handshake
    close_sent = False
    disconnect: dict[str, Any] | None = None
    status = 0
    sent = 0

    def __init__(self, server: HTTPServer, item: Item, scope: Scope) -> None:
        fd, _flags, _length, _record, data = item
        super().__init__(server.loop, fd)
        self.server = server
        self.client_timeout = server.client_timeout
        self.scope = scope
        self.extra = data       # frames the client sent right after its handshake
        self.key = dict(scope["headers"])[b"sec-websocket-key"]
        self.started = time.perf_counter()
        self.connected = False  # websocket.connect went to the app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(INBOX)
        self.conn: Connection | None = None
        self.reader_task: asyncio.Task[None] | None = None
        self.write_lock = asyncio.Lock()  # the reader's pongs and the app's sends
        self.pong: asyncio.Future[None] | None = None  # the pong our last ping awaits
        self.pinger: asyncio.Task[None] | None = None

    async def run(self) -> tuple[bool, bytes]:
        """Run the app for the session; the connection always closes after."""
        self.server.websockets.add(self)
        try:
            await self.server.app(self.scope, self.receive, self.send)
        except ClientGone:
            pass
        except (Exception, SystemExit):  # SystemExit too: it ends no worker
            self.server.error_log.exception("error in the ASGI app serving WebSocket %s",
                                            self.scope["raw_path"])
            await self._fail()
        else:
            if not self.accepted:
                await self._refuse(403)
            elif not self.close_sent:
                await self._close(1000, "")
        finally:
            self.server.websockets.discard(self)
            for task in (self.reader_task, self.pinger):
                if task is not None:
                    task.cancel()
        if self.server.access_log is not None:
            self.server.log_request(self.scope, self.status, self.sent, self.started)
        return False, b""

    async def _write(self, bufs: list[bytes]) -> None:
        async with self.write_lock:
            await super()._write(bufs)

    # -- receive ----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.disconnect is not None and self.inbox.empty():
            return self.disconnect
        if not self.accepted:
            raise RuntimeError("receive() before websocket.accept")
        return await self.inbox.get()

    async def _read_frames(self) -> None:
        """The reader task: frames in, messages to the inbox, pings answered."""
        parts: list[Any] = []
        size = 0
        max_size = self.server.ws.max_size
        try:
            while True:
                data = await self._recv()
                self.conn.receive_data(data or None)
                for event in self.conn.events():
                    if isinstance(event, Message):
                        parts.append(event.data)
                        size += len(event.data)
                        if size > max_size:
                            await self._close(1009, "message too big")
                            return self._disconnected(1009, "message too big")
                        if event.message_finished:
                            await self.inbox.put(_message(event, parts))
                            parts, size = [], 0
                    elif isinstance(event, Ping):
                        await self._write([self.conn.send(event.response())])
                    elif isinstance(event, Pong):
                        if self.pong is not None and not self.pong.done():
                            self.pong.set_result(None)
                    elif isinstance(event, CloseConnection):
                        if self.conn.state is ConnectionState.REMOTE_CLOSING:
                            self.close_sent = True
                            await self._write([self.conn.send(event.response())])
                        return self._disconnected(event.code, event.reason or "")
                if not data:
                    return self._disconnected(1006, "")
        except RemoteProtocolError as exc:
            await self._close(1002, "protocol error")
            self._disconnected(1002, str(exc))
        except ClientGone:
            self._disconnected(1006, "")

    async def _recv(self) -> bytes:
        while True:
            if self.closed:
                raise ClientGone("the session is over")
            try:
                return self.sock.recv(BLOCK, socket.MSG_DONTWAIT)
            except BlockingIOError:
                await self._ready(False, None)
            except OSError:
                return b""

    def _disconnected(self, code: int, reason: str) -> None:
        if self.disconnect is None:
            self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        # wake a receive() waiting on an empty inbox; put_nowait never blocks here
        if self.inbox.empty():
            self.inbox.put_nowait(self.disconnect)

    # -- send -------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if not self.accepted or self.close_sent or self.disconnect is not None:
                raise ClientGone("the WebSocket is not open")
            text, data = message.get("text"), message.get("bytes")
            event = TextMessage(data=text) if text is not None else BytesMessage(data=data or b"")
            await self._write([self.conn.send(event)])
        elif kind == "websocket.accept":
            if self.accepted:
                raise RuntimeError("websocket.accept sent twice")
            await self._accept(message)
        elif kind == "websocket.close":
            if not self.accepted:
                await self._refuse(403)
            elif not self.close_sent:
                await self._close(message.get("code") or 1000, message.get("reason") or "")
        else:
            raise ValueError(f"unexpected ASGI message type {kind!r} for a WebSocket")

    async def _accept(self, message: dict[str, Any]) -> None:
        lines = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                 generate_accept_token(self.key), b"\r\n"]
        subprotocol = message.get("subprotocol")
        if subprotocol:
            lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1") + b"\r\n")
        headers = list(message.get("headers", ()))
        lines += map(self.server.encoder.line, headers)
        extensions: list[Extension] = []
        if self.server.ws.per_message_deflate and not any(
                bytes(name).lower() == b"sec-websocket-extensions" for name, _ in headers):
            agreed = self._negotiate(extensions)
            if agreed:
                lines.append(b"Sec-WebSocket-Extensions: " + agreed + b"\r\n")
        lines.append(b"\r\n")
        self.accepted = True
        self.status = 101
        self.conn = Connection(ConnectionType.SERVER, extensions=extensions,
                               trailing_data=self.extra)
        self.extra = b""
        await self._write([b"".join(lines)])
        self.reader_task = asyncio.create_task(self._read_frames())
        if self.server.ws.ping_interval:
            self.pinger = asyncio.create_task(self._ping_loop())
        if self.server.draining:
            self.shut_down()  # accepted after on_drain closed the others

    def _negotiate(self, extensions: list[Extension]) -> bytes | None:
        """Agree on permessage-deflate if offered; fills ``extensions``."""
        offers = [offer.strip() for name, value in self.scope["headers"]
                  if name == b"sec-websocket-extensions"
                  for offer in value.decode("latin-1").split(",") if offer.strip()]
        if not offers:
            return None
        deflate = PerMessageDeflate()
        agreed = server_extensions_handshake(offers, [deflate])
        if agreed:
            extensions.append(deflate)
        return agreed

    async def _ping_loop(self) -> None:
        """Ping every interval; a pong missing past the timeout closes with 1011."""
        ws = self.server.ws
        while True:
            await asyncio.sleep(ws.ping_interval)
            if self.close_sent or self.disconnect is not None:
                return
            self.pong = self.loop.create_future()
            try:
                await self._write([self.conn.send(Ping(payload=os.urandom(4)))])
                await asyncio.wait_for(asyncio.shield(self.pong), ws.ping_timeout)
            except TimeoutError:
                self.server.error_log.info("WebSocket %s: no pong within %.1f s, closing",
                                           self.scope["raw_path"], ws.ping_timeout)
                await self._close(1011, "keepalive ping timeout")
                return
            except ClientGone:
                return

    async def _close(self, code: int, reason: str) -> None:
        """Send our close frame; the reader sees the client's answer."""
        if self.close_sent or self.conn.state is not ConnectionState.OPEN:
            return
        self.close_sent = True
        try:
            await self._write([self.conn.send(CloseConnection(code=code, reason=reason))])
        except ClientGone:
            return
        if self.reader_task is not None and self.reader_task is not asyncio.current_task():
            await asyncio.wait([self.reader_task], timeout=CLOSE_WAIT)
        self._disconnected(code, reason)

    async def _refuse(self, status: int) -> None:
        """Answer the handshake with an HTTP error instead (once, before accept)."""
        if self.accepted or self.refused:
            return
        self.refused = True
        self.status = status
        with contextlib.suppress(ClientGone):
            await self._write([_refusal(status)])

    async def _fail(self) -> None:
        if self.accepted:
            await self._close(1011, "internal error")
        else:
            await self._refuse(500)

    def shut_down(self) -> None:
        """Graceful stop: close with 1001 (going away)."""
        if self.accepted and not self.close_sent:
            task = asyncio.ensure_future(self._close(1001, "server shutting down"))
            self.server.background.add(task)
            task.add_done_callback(self.server.background.discard)


def _message(event: Message, parts: list[Any]) -> dict[str, Any]:
    data = parts[0] if len(parts) == 1 else ("" if isinstance(event, TextMessage) else b"").join(parts)
    if isinstance(event, TextMessage):
        return {"type": "websocket.receive", "text": data}
    return {"type": "websocket.receive", "bytes": data}
