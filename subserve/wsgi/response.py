"""The response half of one WSGI request: ``start_response``, ``write``, the body.

Runs in: worker interpreters.

An I/O adapter over ``http.response``, which decides every rule of the
head (validation, framing, keep-alive). What is WSGI's own:

- The head goes out with the first non-empty body chunk, in the same
  ``send_all`` call (one syscall for the usual one-chunk response).
- A body's length is known, without the app's Content-Length, for a list
  or tuple of up to ``MAX_GATHER`` chunks (all sent in one call) and for a
  regular file in ``wsgi.file_wrapper`` (sent with ``os.sendfile``).
- Chunks beyond the app's Content-Length are cut, with one warning.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from subserve._engine import send_all
from subserve.errors import ClientGone
from subserve.handoff.item import EXPECT_CONTINUE, HTTP11, KEEP_ALIVE
from subserve.http.response import NO_HEADERS, bodyless, clip, drainable, head
from subserve.http.wire import CRLF, LAST_CHUNK
from subserve.wsgi.input import NO_BODY, WSGIInput
from subserve.wsgi.streams import FileWrapper

if TYPE_CHECKING:
    from subserve.wsgi.handler import WSGIHandler

MAX_GATHER = 32  # list bodies up to this many chunks go out in one send_all (<= 64 iovecs)


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"WSGI body chunks must be bytes, not {type(data).__name__}")


class WSGIResponse:
    """The response state of one request. Of its handler it uses ``encoder``,
    ``max_drain``, ``is_draining`` and ``error_log``."""

    __slots__ = ("handler", "fd", "flags", "inp", "is_head", "status", "code", "line", "block",
                 "nobody", "head_sent", "chunked", "keep", "sent", "gone", "overflow")

    def __init__(self, handler: WSGIHandler, fd: int, flags: int, inp: WSGIInput,
                 is_head: bool) -> None:
        self.handler = handler
        self.fd = fd
        self.flags = flags
        self.inp = inp
        self.is_head = is_head
        self.status: str | None = None
        self.code = 0
        self.line = b""              # the status line
        self.block = NO_HEADERS      # the app's headers, validated (http.response.HeaderBlock)
        self.nobody = False          # a status without content, or HEAD
        self.head_sent = False
        self.chunked = False
        self.keep = False            # decided when the head is built
        self.sent = 0                # body bytes sent
        self.gone = False            # a send failed: the client is gone
        self.overflow = False        # the app wrote past its Content-Length

    # -- PEP 3333 callables ------------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise AssertionError("start_response() called again without exc_info")
        code, self.line, self.block = self.handler.encoder.start(status, headers)
        self.code = code
        self.nobody = self.is_head or bodyless(code)
        self.status = status
        return self.write

    def write(self, data: bytes) -> None:
        """Send one body chunk (the PEP 3333 ``write`` callable)."""
        if type(data) is not bytes:
            data = _as_bytes(data)
        if not data:
            return
        if self.status is None:
            raise AssertionError("write() before start_response()")
        length = self.block.length
        if self.nobody:
            if not self.head_sent:
                self._send(self._head(length))
            return
        if length is not None:
            data = self._clip(data, length)
            if not data:
                return
        if not self.head_sent:
            head = self._head(length)
            if self.chunked:
                self._send(head, b"%x\r\n" % len(data), data, CRLF)
            else:
                self._send(head, data)
        elif self.chunked:
            self._send(b"%x\r\n" % len(data), data, CRLF)
        else:
            self._send(data)
        self.sent += len(data)
        slot = self.handler.slot
        if slot is not None:
            slot.progress()  # a streaming response lives as long as it sends

    # -- serving the app's iterable ----------------------------------------

    def serve(self, result: Iterable[bytes]) -> None:
        """Send the response body ``result`` and finish the response."""
        kind = type(result)
        if (kind is list or kind is tuple) and not self.head_sent:
            if len(result) == 1:
                return self._serve_one(result[0])
            if self.block.length is None and 1 < len(result) <= MAX_GATHER:
                return self._serve_gathered(result)
        elif isinstance(result, FileWrapper) and not self.head_sent:
            return self._serve_file(result)
        write = self.write
        for data in result:
            if data:
                write(data)
        self.finish()

    def _serve_one(self, data: bytes) -> None:
        """One chunk: the head and the body leave in one send_all."""
        if self.status is None:
            raise AssertionError("the app returned before calling start_response()")
        if type(data) is not bytes:
            data = _as_bytes(data)
        length = self.block.length
        if length is None:
            head = self._head(len(data))
        else:
            data = self._clip(data, length)
            head = self._head(length)
        try:  # send_all inline, not _send: this is every one-chunk response
            if self.nobody or not data:
                send_all(self.fd, head)
            else:
                send_all(self.fd, head, data)
                self.sent = len(data)
        except OSError as exc:
            raise self._gone(exc) from exc

    def _serve_gathered(self, chunks: list[bytes] | tuple[bytes, ...]) -> None:
        """A short list with no Content-Length: compute it, send at once."""
        if self.status is None:
            raise AssertionError("the app returned before calling start_response()")
        chunks = [c if type(c) is bytes else _as_bytes(c) for c in chunks if c]
        total = sum(map(len, chunks))
        head = self._head(total)
        if self.nobody:
            self._send(head)
        else:
            self._send(head, *chunks)
            self.sent = total

    def _serve_file(self, wrapper: FileWrapper) -> None:
        """Send a regular file with os.sendfile; other files are iterated."""
        if self.status is None:
            raise AssertionError("the app returned before calling start_response()")
        source = _sendfile_source(wrapper.filelike)
        length = self.block.length
        if self.nobody:
            # no need to read the file; its size still gives the GET headers
            return self._send(self._head(length if length is not None or source is None
                                         else source[2]))
        if source is None:
            for data in wrapper:
                if data:
                    self.write(data)
            return self.finish()
        file_fd, offset, size = source
        if length is None:
            length = size
        self._send(self._head(length))
        self._sendfile(file_fd, offset, min(length, size))

    def _sendfile(self, file_fd: int, offset: int, count: int) -> None:
        while count > 0:
            try:
                n = os.sendfile(self.fd, file_fd, offset, count)
            except OSError as exc:
                self.gone = True
                raise ClientGone(exc.errno, f"sendfile failed: {exc}") from exc
            if not n:
                break  # the file shrank: sent < length closes the connection
            offset += n
            count -= n
            self.sent += n

    def finish(self) -> None:
        """End the response: send a head not sent yet, or the last chunk."""
        if not self.head_sent:
            if self.status is None:
                raise AssertionError("the app returned before calling start_response()")
            # no body byte was produced: the body is empty
            length = self.block.length
            self._send(self._head(0 if length is None else length))
        elif self.chunked:
            self._send(LAST_CHUNK)

    def keep_alive(self) -> bool:
        """Whether the connection can carry another request now."""
        if not self.keep or self.gone:
            return False
        # a body shorter than the announced length leaves the client waiting
        length = self.block.length
        return length is None or self.nobody or self.sent == length

    def reset(self) -> None:
        """Forget what the app started, to answer an error instead."""
        self.status = None
        self.chunked = False
        self.sent = 0

    # -- internals -----------------------------------------------------------

    def _head(self, length: int | None) -> bytes:
        """Build the head; decide framing and keep-alive. Call once."""
        self.head_sent = True
        flags = self.flags
        data, self.chunked, keep = head(self.code, self.line, self.block, length, self.is_head,
                                        flags & HTTP11 != 0, flags & KEEP_ALIVE != 0,
                                        self._may_keep)
        if not keep and flags & EXPECT_CONTINUE:
            self.inp.cancel_continue()  # no 100 Continue after the final response
        self.keep = keep
        return data

    def _may_keep(self) -> bool:
        inp = self.inp
        if inp is not NO_BODY and (inp.broken or not drainable(
                inp.expect_pending, inp.unread_hint(), self.handler.max_drain)):
            inp.cancel_continue()
            return False
        return not self.handler.is_draining()

    def _clip(self, data: bytes, length: int) -> bytes:
        """Cut what would exceed the app's Content-Length (warning once)."""
        cut = clip(data, length, self.sent)
        if len(cut) < len(data) and not self.overflow:
            self.overflow = True
            self.handler.error_log.warning(
                "WSGI app sent more than its Content-Length (%d); the excess is dropped", length)
        return cut

    def _send(self, *buffers: bytes) -> None:
        try:
            send_all(self.fd, *buffers)
        except OSError as exc:
            raise self._gone(exc) from exc

    def _gone(self, exc: OSError) -> ClientGone:
        self.gone = True
        return ClientGone(exc.errno, f"sending the response failed: {exc}")


def _sendfile_source(filelike: Any) -> tuple[int, int, int] | None:
    """(fd, offset, bytes left) of a regular file, or None if not one."""
    try:
        fd = filelike.fileno()
        offset = filelike.tell()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return fd, offset, max(st.st_size - offset, 0)
