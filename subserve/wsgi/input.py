"""``wsgi.input``: the request body, streamed from the connection.

Runs in: worker interpreters.

The body starts in the queue item's ``data`` (bytes the engine read past the
head) and continues on the socket, read with blocking ``os.read`` (the
engine set SO_RCVTIMEO on it).  A Content-Length body never asks the socket
for more than what is left of it; a chunked body (RFC 9112 7.1) is decoded
incrementally, and whatever one ``os.read`` returned beyond its end is kept
as the leftover: the start of the next, pipelined request.

Errors end the connection: ``BadBody`` (status 400) for malformed chunking
or a body cut short, its ``BodyTooLarge`` (413) for a chunked body past
``--limit-request-body``, ``ClientGone`` when the socket fails or times out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from subserve._engine import send_all
from subserve.errors import BadBody, ClientGone
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE
from subserve.http.body import BodyDecoder
from subserve.http.wire import CONTINUE
from subserve.http.wire import READ_BLOCK as BLOCK


class WSGIInput:
    """A file-like over one request body (PEP 3333 ``wsgi.input``).

    ``read(size)`` returns ``size`` bytes unless the body ends first, like a
    buffered file, so apps that ``read(CONTENT_LENGTH)`` get the whole body.
    Decoding is BodyDecoder's; this class adds the blocking reads, the
    100 Continue, and a window of decoded bytes for ``readline``.
    """

    __slots__ = ("_fd", "_dec", "_ready", "_rpos", "_expect", "broken")

    def __init__(self, fd: int, flags: int, content_length: int, data: bytes,
                 limit: int = 0) -> None:
        self._fd = fd
        self._dec = BodyDecoder(bool(flags & CHUNKED), content_length, data, limit)
        self._ready = b""  # decoded, not yet given to the app: from _rpos on
        self._rpos = 0
        self.broken = False  # True once the connection cannot carry another request
        self._expect = bool(flags & EXPECT_CONTINUE) and not self._dec.done

    # -- the file-like API -------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        """Read ``size`` bytes (all when negative or None); ``b""`` at the end."""
        return self._read(size, line=False)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line, ``\\n`` included, of at most ``size`` bytes."""
        return self._read(size, line=True)

    def _read(self, size: int | None, line: bool) -> bytes:
        """Gather up to ``size`` bytes (no limit when negative or None),
        stopping after the first ``\\n`` when ``line`` is true."""
        if size is None or size < 0:
            size = -1
        chunks = []
        while size:
            avail = self._avail()
            if not avail:
                break
            if 0 < size < avail:
                avail = size
            if line:
                end = self._ready.find(b"\n", self._rpos, self._rpos + avail)
                if end >= 0:
                    chunks.append(self._take(end + 1 - self._rpos))
                    break
            chunks.append(self._take(avail))
            if size > 0:
                size -= avail
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read lines until the end, or until they total ``hint`` bytes."""
        lines: list[bytes] = []
        total = 0
        while hint is None or hint <= 0 or total < hint:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    # -- for the handler -----------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the whole body, trailers included, has been consumed."""
        return self._dec.done and self._rpos >= len(self._ready)

    @property
    def expect_pending(self) -> bool:
        """The client awaits ``100 Continue`` before sending a body we lack."""
        return self._expect and not self.done

    def cancel_continue(self) -> None:
        """The final response started: a 100 Continue may no longer be sent."""
        self._expect = False

    def unread_hint(self) -> int:
        """Bytes of a Content-Length body still on the wire (0 if unknown)."""
        return self._dec.remaining_hint()

    def drain(self, limit: int) -> bool:
        """Discard the unread body, reading at most ``limit`` body bytes.

        True when the body ended cleanly, so the connection can carry the
        next request; False when it is over ``limit``, malformed, or the
        client never got its 100 Continue (it may not send the body at all).
        """
        if self.broken or self.expect_pending:
            return False
        if self.unread_hint() > limit:
            return False
        try:
            while True:
                avail = self._avail()
                if not avail:
                    return True
                if avail > limit:
                    return False
                limit -= avail
                self._take(avail)
        except (BadBody, ClientGone):
            return False

    def detach(self) -> None:
        """The request is over: later reads must not touch the fd."""
        self._fd = -1

    def leftover(self) -> bytes:
        """The bytes read past the end of the body (pipelined requests)."""
        return self._dec.leftover()

    # -- the reader ----------------------------------------------------------

    def _avail(self) -> int:
        """Decoded bytes ready for the app, reading the socket if there are
        none. Returns 0 only at the end of the body."""
        ready = len(self._ready) - self._rpos
        if ready:
            return ready
        dec = self._dec
        try:
            while True:
                data = dec.read(BLOCK)
                if data or dec.done:
                    self._ready, self._rpos = data, 0
                    return len(data)
                # never ask for more than a Content-Length body still holds
                self._fill(dec.remaining_hint() or BLOCK)
        except BadBody:
            self.broken = True
            raise

    def _take(self, n: int) -> bytes:
        pos = self._rpos
        self._rpos = pos + n
        if pos == 0 and n == len(self._ready):
            return self._ready  # the whole window, uncopied
        return self._ready[pos:pos + n]

    def _fill(self, n: int) -> None:
        """Feed up to ``n`` more bytes from the socket to the decoder."""
        if self._expect:
            self._expect = False
            try:
                send_all(self._fd, CONTINUE)
            except OSError as exc:
                raise self._gone(exc) from exc
        try:
            data = os.read(self._fd, min(n, BLOCK))
        except OSError as exc:
            raise self._gone(exc) from exc
        if not data:
            self.broken = True
            raise BadBody("request body ended early")
        self._dec.feed(data)

    def _gone(self, exc: OSError) -> ClientGone:
        self.broken = True
        return ClientGone(exc.errno, f"client connection failed while reading the body: {exc}")


# The input of every request without a body: at its end, holding nothing,
# so one instance serves all of them (the handler keeps ``data`` as leftover).
NO_BODY = WSGIInput(-1, 0, 0, b"")
