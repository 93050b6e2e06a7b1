"""``wsgi.input``: the request body, streamed from the connection.

Runs in: worker interpreters.

The body starts in the queue item's ``data`` (bytes the engine read past the
head) and continues on the socket, read with blocking ``os.read`` (the
engine set SO_RCVTIMEO on it).  A Content-Length body never asks the socket
for more than what is left of it; a chunked body (RFC 9112 7.1) is decoded
incrementally, and whatever one ``os.read`` returned beyond its end is kept
as the leftover: the start of the next, pipelined request.

Errors end the connection: ``BadBody`` (status 400) for malformed chunking
or a body cut short, ``ClientGone`` when the socket fails or times out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from subserve._engine import send_all
from subserve.http11 import (
    CHUNK_LINE,
    CONTINUE,
    MAX_CHUNK_LINE,
    MAX_TRAILERS,
    TRAILER_LINE,
    BadBody,
    ClientGone,
)
from subserve.record import CHUNKED, EXPECT_CONTINUE

BLOCK = 64 * 1024          # one os.read for chunked bodies and big reads

# Reader states.  _DATA_END expects the CRLF closing a chunk's data.
_LENGTH, _SIZE, _DATA, _DATA_END, _DONE = range(5)


class WSGIInput:
    """A file-like over one request body (PEP 3333 ``wsgi.input``).

    ``read(size)`` returns ``size`` bytes unless the body ends first, like a
    buffered file, so apps that ``read(CONTENT_LENGTH)`` get the whole body.
    """

    __slots__ = ("_fd", "_buf", "_pos", "_left", "_state", "_expect", "broken")

    def __init__(self, fd: int, flags: int, content_length: int, data: bytes) -> None:
        self._fd = fd
        self._buf = data
        self._pos = 0
        self.broken = False  # True once the connection cannot carry another request
        self._expect = bool(flags & EXPECT_CONTINUE)
        if flags & CHUNKED:
            self._state, self._left = _SIZE, 0
        elif content_length > 0:
            self._state, self._left = _LENGTH, content_length
        else:
            self._state, self._left = _DONE, 0
            self._expect = False

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
                end = self._buf.find(b"\n", self._pos, self._pos + avail)
                if end >= 0:
                    chunks.append(self._take(end + 1 - self._pos))
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
        return self._state == _DONE

    @property
    def expect_pending(self) -> bool:
        """The client awaits ``100 Continue`` before sending a body we lack."""
        return self._expect and self._state != _DONE

    def cancel_continue(self) -> None:
        """The final response started: a 100 Continue may no longer be sent."""
        self._expect = False

    def unread_hint(self) -> int:
        """Bytes of a Content-Length body still on the wire (0 if unknown)."""
        if self._state != _LENGTH:
            return 0
        return self._left - (len(self._buf) - self._pos)

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
                self._skip(avail)
        except (BadBody, ClientGone):
            return False

    def detach(self) -> None:
        """The request is over: later reads must not touch the fd."""
        self._fd = -1

    def leftover(self) -> bytes:
        """The bytes read past the end of the body (pipelined requests)."""
        return self._buf[self._pos:]

    # -- the reader ----------------------------------------------------------

    def _avail(self) -> int:
        """Body bytes ready in the buffer, reading or decoding more if none.

        Returns 0 only at the end of the body.
        """
        while True:
            state = self._state
            if state in (_LENGTH, _DATA):
                ready = len(self._buf) - self._pos
                if ready:
                    return ready if ready < self._left else self._left
                # never ask for more than the body holds: nothing to give back
                self._fill(min(self._left, BLOCK) if state == _LENGTH else BLOCK)
            elif state == _DONE:
                return 0
            elif state == _SIZE:
                self._chunk_size()
            else:
                self._chunk_end()

    def _take(self, n: int) -> bytes:
        pos = self._pos
        chunk = self._buf[pos:pos + n]  # the whole buffer is returned uncopied
        self._skip(n)
        return chunk

    def _skip(self, n: int) -> None:
        self._pos += n
        self._left -= n
        if not self._left:
            self._state = _DONE if self._state == _LENGTH else _DATA_END

    def _fill(self, n: int) -> None:
        """Append up to ``n`` bytes from the socket to the unread buffer."""
        if self._expect:
            self._expect = False
            try:
                send_all(self._fd, CONTINUE)
            except OSError as exc:
                raise self._gone(exc) from exc
        try:
            data = os.read(self._fd, n)
        except OSError as exc:
            raise self._gone(exc) from exc
        if not data:
            raise self._bad("request body ended early")
        rest = len(self._buf) - self._pos
        self._buf = self._buf[self._pos:] + data if rest else data
        self._pos = 0

    def _line(self, limit: int) -> bytes:
        """Consume one CRLF-terminated line of at most ``limit`` bytes."""
        while True:
            buf, pos = self._buf, self._pos
            end = buf.find(b"\n", pos, pos + limit + 2)
            if end >= 0:
                break
            if len(buf) - pos >= limit + 2:
                raise self._bad("line too long in chunked body")
            self._fill(BLOCK)
        if end == pos or buf[end - 1] != 13:
            raise self._bad("bare LF in chunked body")
        self._pos = end + 1
        return buf[pos:end - 1]

    def _chunk_size(self) -> None:
        match = CHUNK_LINE.fullmatch(self._line(MAX_CHUNK_LINE))
        if match is None:
            raise self._bad("malformed chunk size")
        size = int(match.group(1), 16)
        if size:
            self._state, self._left = _DATA, size
        else:
            self._trailers()
            self._state = _DONE

    def _chunk_end(self) -> None:
        while len(self._buf) - self._pos < 2:
            self._fill(BLOCK)
        if self._buf[self._pos:self._pos + 2] != b"\r\n":
            raise self._bad("chunk data not followed by CRLF")
        self._pos += 2
        self._state = _SIZE

    def _trailers(self) -> None:
        """Read and discard the trailer section, up to its empty line."""
        budget = MAX_TRAILERS
        while True:
            line = self._line(budget)
            if not line:
                return
            if TRAILER_LINE.fullmatch(line) is None:
                raise self._bad("malformed trailer field")
            budget -= len(line) + 2
            if budget <= 0:
                raise self._bad("trailer section too large")

    def _bad(self, reason: str) -> BadBody:
        self.broken = True
        return BadBody(reason)

    def _gone(self, exc: OSError) -> ClientGone:
        self.broken = True
        return ClientGone(exc.errno, f"client connection failed while reading the body: {exc}")


# The input of every request without a body: at its end, holding nothing,
# so one instance serves all of them (the handler keeps ``data`` as leftover).
NO_BODY = WSGIInput(-1, 0, 0, b"")
