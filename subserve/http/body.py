"""An incremental request-body decoder without I/O, for WSGI and ASGI alike.

Runs in: worker interpreters (sans I/O).

Bytes go in with ``feed()``; ``read(limit)`` returns the body bytes that are
ready (Content-Length framing, or chunked per RFC 9112 7.1 with extensions
skipped and trailers discarded).  ``done`` tells the end of the body, and
``leftover()`` the bytes fed past it: the start of a pipelined request.

``limit`` (``--limit-request-body``) caps a chunked body: a chunk whose size
line would take the body past it raises ``BodyTooLarge`` before any of its
bytes are read, so nothing over the limit reaches the app.  A Content-Length
over it never gets here: the engine answers 413 at the door.

The chunk grammar and limits come from ``http.wire``.  ``WSGIInput`` feeds it with
blocking reads, the ASGI cycle with reads on its event loop; the framing
rules live only here.  A malformed body raises ``BadBody``.
"""

from __future__ import annotations

from subserve.errors import BadBody, BodyTooLarge
from subserve.http.wire import CHUNK_LINE, MAX_CHUNK_LINE, MAX_TRAILERS, TRAILER_LINE

# Decoder states.  _DATA_END expects the CRLF closing a chunk's data.
_LENGTH, _SIZE, _DATA, _DATA_END, _TRAILERS, _DONE = range(6)


class BodyDecoder:
    """Decodes one request body from the bytes fed to it."""

    __slots__ = ("_buf", "_pos", "_left", "_state", "_trailer_budget", "_room")

    def __init__(self, chunked: bool, content_length: int, data: bytes = b"",
                 limit: int = 0) -> None:
        self._buf = data
        self._pos = 0
        self._trailer_budget = MAX_TRAILERS
        self._room = limit or -1  # chunk bytes the limit still allows; -1: no limit
        if chunked:
            self._state, self._left = _SIZE, 0
        elif content_length > 0:
            self._state, self._left = _LENGTH, content_length
        else:
            self._state, self._left = _DONE, 0

    @property
    def done(self) -> bool:
        """True once the whole body, trailers included, was decoded."""
        return self._state == _DONE

    def remaining_hint(self) -> int:
        """Bytes of a Content-Length body not fed yet (0 if unknown)."""
        if self._state != _LENGTH:
            return 0
        return max(self._left - (len(self._buf) - self._pos), 0)

    def feed(self, data: bytes) -> None:
        """Append bytes read from the connection."""
        if self._pos:
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        else:
            self._buf += data

    def leftover(self) -> bytes:
        """Bytes fed that are not part of the body (valid once ``done``)."""
        return self._buf[self._pos:]

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` decoded body bytes; ``b""`` when more input is needed
        (or at the end: see ``done``)."""
        if self._state == _LENGTH:  # one step: no list, no join
            pos = self._pos
            n = min(len(self._buf) - pos, self._left, limit)
            if n <= 0:
                return b""
            self._pos = pos + n
            self._left -= n
            if not self._left:
                self._state = _DONE
            return self._buf[pos:pos + n]
        out: list[bytes] = []
        want = limit
        while want and self._step(out, want):
            want = limit - sum(map(len, out))
        return out[0] if len(out) == 1 else b"".join(out)

    # -- the state machine: each step consumes input or returns False ------

    def _step(self, out: list[bytes], want: int) -> bool:
        state = self._state
        if state in (_LENGTH, _DATA):
            ready = len(self._buf) - self._pos
            if not ready:
                return False
            n = min(ready, self._left, want)
            out.append(self._buf[self._pos:self._pos + n])
            self._pos += n
            self._left -= n
            if not self._left:
                self._state = _DONE if state == _LENGTH else _DATA_END
            return True
        if state == _SIZE:
            return self._chunk_size()
        if state == _DATA_END:
            return self._chunk_end()
        if state == _TRAILERS:
            return self._trailer()
        return False

    def _line(self, limit: int) -> bytes | None:
        """One CRLF-terminated line of at most ``limit`` bytes, or None for more."""
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos, pos + limit + 2)
        if end < 0:
            if len(buf) - pos >= limit + 2:
                raise BadBody("line too long in chunked body")
            return None
        if end == pos or buf[end - 1] != 13:
            raise BadBody("bare LF in chunked body")
        self._pos = end + 1
        return buf[pos:end - 1]

    def _chunk_size(self) -> bool:
        line = self._line(MAX_CHUNK_LINE)
        if line is None:
            return False
        match = CHUNK_LINE.fullmatch(line)
        if match is None:
            raise BadBody("malformed chunk size")
        size = int(match.group(1), 16)
        if self._room >= 0:
            if size > self._room:
                raise BodyTooLarge("request body larger than the limit")
            self._room -= size
        self._state, self._left = (_DATA, size) if size else (_TRAILERS, 0)
        return True

    def _chunk_end(self) -> bool:
        if len(self._buf) - self._pos < 2:
            return False
        if self._buf[self._pos:self._pos + 2] != b"\r\n":
            raise BadBody("chunk data not followed by CRLF")
        self._pos += 2
        self._state = _SIZE
        return True

    def _trailer(self) -> bool:
        """Consume one trailer line; the empty line ends the body."""
        line = self._line(self._trailer_budget)
        if line is None:
            return False
        if not line:
            self._state = _DONE
            return False
        if TRAILER_LINE.fullmatch(line) is None:
            raise BadBody("malformed trailer field")
        self._trailer_budget -= len(line) + 2
        if self._trailer_budget <= 0:
            raise BadBody("trailer section too large")
        return True
