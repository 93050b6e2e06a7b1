"""A connection socket served on the interpreter's asyncio loop, without buffers.

Runs in: worker interpreters.

``LoopSocket`` is the I/O half of an ASGI request or WebSocket session: the
fd is borrowed from the engine, which wants it back in blocking mode, so it
stays blocking and every recv/send uses MSG_DONTWAIT; readiness waits go
through the loop's add_reader/add_writer.  ``_write`` returns once the
kernel took every byte: a slow client suspends the sender instead of
growing a buffer.

A wait never removes a reader by fd number after ``close_io``: the same
number may by then carry another request in this very loop.
"""

from __future__ import annotations

import _socket
import asyncio

from subserve.errors import ClientGone

_SEND_FLAGS = _socket.MSG_DONTWAIT | _socket.MSG_NOSIGNAL


class LoopSocket:
    """Waits and writes on one borrowed connection fd (see the module docstring)."""

    closed = False         # the fd is not ours any more
    gone = False           # the client left, stalled, or a send failed
    sending = False
    reader: asyncio.Future[None] | None = None
    writer: asyncio.Future[None] | None = None
    client_timeout: float | None = 60.0

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        # explicit family/type/proto: no getsockopt calls; detached in close_io.
        # The C type: socket.socket's Python-level __init__ costs ~0.5 us a request,
        # and only recv, sendmsg and detach are used.
        self.sock: _socket.socket | None = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM,
                                                          0, fd)

    def close_io(self) -> None:
        """The cycle is over: drop every wait on the fd and give the fd up."""
        if self.closed:
            return
        self.closed = True
        if self.reader is not None:
            self.loop.remove_reader(self.fd)
            wake(self.reader)
            self.reader = None
        if self.writer is not None:
            self.loop.remove_writer(self.fd)
            wake(self.writer)
            self.writer = None
        self._finish_waiters()
        if self.sock is not None:
            self.sock.detach()
            self.sock = None

    def _finish_waiters(self) -> None:
        """Called when the client left or the fd was given up; for subclasses."""

    async def _ready(self, write: bool, timeout: float | None) -> None:
        """Wait until the fd is readable (or writable); ClientGone on timeout."""
        fut = self.writer if write else self.reader
        if fut is None:
            fut = self.loop.create_future()
            if write:
                self.writer = fut
                self.loop.add_writer(self.fd, self._on_ready, fut, True)
            else:
                self.reader = fut
                self.loop.add_reader(self.fd, self._on_ready, fut, False)
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, self._on_timeout, fut, write)
        try:
            # shielded: a cancelled waiter must not cancel a wait another shares
            await asyncio.shield(fut)
        finally:
            if timer is not None:
                timer.cancel()
        if self.closed or self.gone:
            raise ClientGone("the client left, stalled, or the request is over")

    def _on_ready(self, fut: asyncio.Future[None], write: bool) -> None:
        if write:
            self.loop.remove_writer(self.fd)
            self.writer = None
        else:
            self.loop.remove_reader(self.fd)
            self.reader = None
        wake(fut)

    def _on_timeout(self, fut: asyncio.Future[None], write: bool) -> None:
        if fut.done():
            return
        self.gone = True  # a stalled client: give up on the connection
        self._on_ready(fut, write)

    async def _write(self, bufs: list[bytes]) -> None:
        """Send every byte, waiting for the client when its window is full."""
        bufs = self._send_now(bufs)
        if bufs:
            await self._write_rest(bufs)

    def _send_now(self, bufs: list[bytes]) -> list[bytes]:
        """Send what the kernel takes at once; return the buffers still to send.

        The usual case, with no coroutine: the kernel takes it all.
        """
        if self.sending or self.closed:
            return bufs  # _write_rest says what is wrong
        try:
            n = self.sock.sendmsg(bufs, (), _SEND_FLAGS)
        except OSError:
            return bufs  # _write_rest tells EAGAIN from a failure
        return [] if n == sum(map(len, bufs)) else advance_buffers(bufs, n)

    async def _write_rest(self, bufs: list[bytes]) -> None:
        """What ``_send_now`` left: send it all, waiting for the client as needed."""
        if self.sending:
            raise RuntimeError("send() called while another send() is running")
        self.sending = True
        try:
            while bufs:
                if self.closed:
                    raise ClientGone("the request is over")
                try:
                    n = self.sock.sendmsg(bufs, (), _SEND_FLAGS)
                except BlockingIOError:
                    n = 0
                except OSError as exc:
                    self.gone = True
                    self._finish_waiters()
                    raise ClientGone(str(exc)) from exc
                bufs = advance_buffers(bufs, n)
                if bufs:
                    await self._ready(True, self.client_timeout)
                    if self.gone:
                        raise ClientGone("the client stopped reading")
        finally:
            self.sending = False


def advance_buffers(bufs: list[bytes], n: int) -> list[bytes]:
    """The buffers still to send after ``n`` bytes of them went out."""
    i = 0
    while i < len(bufs) and n >= len(bufs[i]):
        n -= len(bufs[i])
        i += 1
    rest = bufs[i:]
    if rest and n:
        rest[0] = memoryview(rest[0])[n:]
    return rest


def wake(fut: asyncio.Future[None]) -> None:
    """Resolve a readiness future unless it already is (the waits share them)."""
    if not fut.done():
        fut.set_result(None)
