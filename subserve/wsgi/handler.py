"""Serve one WSGI request (PEP 3333) on a connection handed over by the engine.

Runs in: worker interpreters.

``WSGIHandler.handle(item)`` builds the environ, calls the app, writes the
response to the item's socket with ``_engine.send_all`` and returns
``(keep_alive, leftover)`` for the serve loop, which hands the fd back to
the engine (``Engine.close_connection``, ``next_request`` or ``park``); it
never closes the fd.

Choices made here:

- The response head goes out with the first non-empty body chunk, in the
  same ``send_all`` call (one syscall for the usual one-chunk response).
- Framing: the app's Content-Length (never exceeded: excess is cut); else a
  length computed for a list or tuple body; else chunked on HTTP/1.1 and
  close-delimited on HTTP/1.0.  HEAD gets the GET headers without a body
  and without chunked; 1xx/204 get no framing, 304 only the app's length.
- Hop-by-hop headers from the app are dropped (PEP 3333 forbids them);
  ``Connection: close`` among them is honoured.
- An app error before anything was sent answers 500; the connection stays
  open when its framing is intact (body drained within ``max_drain``), as
  for any response.  After the head went out, the connection is closed to
  abort the response.  A malformed request body answers 400 and closes.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from typing import Any

from subserve._engine import send_all
from subserve.errors import BadBody, ClientGone
from subserve.handoff.item import CHUNKED, EXPECT_CONTINUE, HTTP11, KEEP_ALIVE
from subserve.handoff.settings import WorkerSettings
from subserve.http.wire import (
    CHUNKED_FRAMING,
    CONNECTION,
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
from subserve.wsgi.environ import EnvironBuilder
from subserve.wsgi.input import NO_BODY, WSGIInput
from subserve.wsgi.streams import ErrorStream, FileWrapper

# RFC 9110 token and field-value rules; values may hold HTAB and obs-text,
# never other controls (CR/LF/NUL would split the response).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search
_STATUS = re.compile(r"[1-9][0-9][0-9] [^\x00-\x08\x0a-\x1f\x7f]*")

_CACHE_MAX = 512  # bounds of the status and header-name caches
_LINE_CACHE_MAX = 1024  # (name, value) pairs: cleared when full

MAX_DRAIN = 1 << 20  # unread request body discarded to keep a connection
_MAX_GATHER = 32  # list bodies up to this many chunks go out in one send_all (<= 64 iovecs)

def _as_bytes(data: Any) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"WSGI body chunks must be bytes, not {type(data).__name__}")


class _Response:
    """The response state of one request; ``start_response`` and ``write``."""

    __slots__ = ("h", "fd", "flags", "inp", "is_head", "status", "code", "line", "block",
                 "length", "close", "own", "bodyless", "nobody", "head_sent", "chunked",
                 "keep", "sent", "gone", "overflow")

    def __init__(self, handler: WSGIHandler, fd: int, flags: int, inp: WSGIInput, is_head: bool):
        self.h = handler
        self.fd = fd
        self.flags = flags
        self.inp = inp
        self.is_head = is_head
        self.status: str | None = None
        self.code = 0
        self.line = b""              # cached status line
        self.block = b""             # the app's headers, validated and encoded
        self.length: int | None = None  # the app's Content-Length
        self.close = False           # the app asked for Connection: close
        self.own = 3                 # Date (1) and Server (2) lines we add
        self.bodyless = False        # 1xx, 204, 304: a status without content
        self.nobody = False          # bodyless, or HEAD
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
        h = self.h
        code, self.line, self.bodyless = h.statuses.get(status) or h.learn_status(status)
        known = h.lines
        lines = []
        length = None
        close = False
        own = 3
        for pair in headers:
            # a (name, value) pair seen before is valid and already encoded
            entry = known.get(pair) if type(pair) is tuple else None
            if entry is None:
                entry = h.learn_header(pair)
            kind, line = entry
            if not kind:
                lines.append(line)
            elif kind == LENGTH:
                length = _content_length(pair[1], length)  # sent with the framing
            elif kind == CONNECTION:
                close = close or _has_close(pair[1])
            elif kind != HOP:
                own &= ~1 if kind == DATE else ~2
                lines.append(line)
        self.block = b"".join(lines)
        self.code, self.length, self.close, self.own = code, length, close, own
        self.nobody = self.bodyless or self.is_head
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
        if self.nobody:
            if not self.head_sent:
                self._send(self._head(self.length))
            return
        if self.length is not None:
            data = self._clip(data)
            if not data:
                return
        if not self.head_sent:
            head = self._head(self.length)
            if self.chunked:
                self._send(head, b"%x\r\n" % len(data), data, CRLF)
            else:
                self._send(head, data)
        elif self.chunked:
            self._send(b"%x\r\n" % len(data), data, CRLF)
        else:
            self._send(data)
        self.sent += len(data)

    # -- serving the app's iterable ----------------------------------------

    def serve(self, result: Iterable[bytes]) -> None:
        """Send the response body ``result`` and finish the response."""
        kind = type(result)
        if (kind is list or kind is tuple) and not self.head_sent:
            if len(result) == 1:
                return self._serve_one(result[0])
            if self.length is None and 1 < len(result) <= _MAX_GATHER:
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
        if self.length is None:
            head = self._head(len(data))
        else:
            data = self._clip(data)
            head = self._head(self.length)
        try:
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
        if self.nobody:
            # no need to read the file; its size still gives the GET headers
            length = self.length if self.length is not None or source is None else source[2]
            return self._send(self._head(length))
        if source is None:
            for data in wrapper:
                if data:
                    self.write(data)
            return self.finish()
        file_fd, offset, size = source
        length = size if self.length is None else self.length
        self._send(self._head(length))
        count = min(length, size)
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
            self._send(self._head(0 if self.length is None else self.length))
        elif self.chunked:
            self._send(LAST_CHUNK)

    def keep_alive(self) -> bool:
        """Whether the connection can carry another request now."""
        if not self.keep or self.gone:
            return False
        # a body shorter than the announced length leaves the client waiting
        return self.length is None or self.nobody or self.sent == self.length

    # -- internals -----------------------------------------------------------

    def _head(self, length: int | None) -> bytes:
        """Build the head; decide framing and keep-alive.  Call once."""
        self.head_sent = True
        flags = self.flags
        keep = flags & KEEP_ALIVE and not self.close
        if self.bodyless:
            framing = b""
            if self.code < 200:
                keep = False  # a 1xx cannot be the final response
            elif self.code == 304 and self.length is not None:
                framing = b"Content-Length: %d\r\n" % self.length
        elif length is not None:
            framing = b"Content-Length: %d\r\n" % length
        elif self.is_head:
            framing = b""  # GET would be chunked; HEAD has no body to frame
        elif flags & HTTP11:
            framing = CHUNKED_FRAMING
            self.chunked = True
        else:
            framing = b""
            keep = False  # HTTP/1.0 without a length: the close ends the body
        if keep:
            keep = self._may_keep()
        elif flags & EXPECT_CONTINUE:
            self.inp.cancel_continue()
        self.keep = keep
        end = (END_KEEP_11 if flags & HTTP11 else END_KEEP_10) if keep else END_CLOSE
        return b"".join((self.line, self.block, std_headers(self.own), framing, end))

    def _may_keep(self) -> bool:
        inp = self.inp
        # a client still waiting for 100 Continue may never send the body
        if inp is not NO_BODY and (
            inp.broken or inp.expect_pending or inp.unread_hint() > self.h.max_drain
        ):
            inp.cancel_continue()
            return False
        return not self.h.is_draining()

    def _clip(self, data: bytes) -> bytes:
        """Cut what would exceed the app's Content-Length."""
        room = self.length - self.sent
        if len(data) <= room:
            return data
        if not self.overflow:
            self.overflow = True
            self.h.error_log.warning(
                "WSGI app sent more than its Content-Length (%d); the excess is dropped",
                self.length)
        return data[:max(room, 0)]

    def _send(self, *buffers: bytes) -> None:
        try:
            send_all(self.fd, *buffers)
        except OSError as exc:
            raise self._gone(exc) from exc

    def _gone(self, exc: OSError) -> ClientGone:
        self.gone = True
        return ClientGone(exc.errno, f"sending the response failed: {exc}")

    def reset(self) -> None:
        """Forget what the app started, to answer an error instead."""
        self.status = None
        self.chunked = False
        self.sent = 0


def _content_length(value: str, previous: int | None) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"invalid Content-Length {value!r}")
    length = int(value)
    if previous is not None and previous != length:
        raise ValueError("conflicting Content-Length headers")
    return length


def _has_close(value: str) -> bool:
    return any(token.strip() == "close" for token in value.lower().split(","))


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


_ERROR_BODIES = {
    400: ("400 Bad Request", b"Bad Request\n"),
    500: ("500 Internal Server Error", b"Internal Server Error\n"),
}


class WSGIHandler:
    """Serves requests for one WSGI app; shared by a worker's threads."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        settings: WorkerSettings,
        *,
        access_log: AccessLog | None,
        error_log: logging.Logger,
        is_draining: Callable[[], bool],
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.error_log = error_log
        self.is_draining = is_draining
        self.max_drain = MAX_DRAIN
        # Caches of validated, encoded response parts (bounded).
        self.statuses: dict[str, tuple[int, bytes, bool]] = {}
        self.kinds: dict[str, int] = {}
        self.lines: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.builder = EnvironBuilder(
            url_scheme=settings.url_scheme,
            root_path=settings.root_path,
            multithread=settings.threads > 1,
            extra={"wsgi.errors": ErrorStream(error_log), "wsgi.file_wrapper": FileWrapper},
        )

    def handle(self, item: tuple[int, int, int, bytes, bytes]) -> tuple[bool, bytes]:
        """Serve the request in ``item``; return ``(keep_alive, leftover)``."""
        fd, flags, content_length, record, data = item
        start = time.perf_counter() if self.access_log is not None else 0.0
        environ = self.builder.build(record, flags, content_length)
        if content_length > 0 or flags & CHUNKED:
            inp = WSGIInput(fd, flags, content_length, data)
        else:
            inp = NO_BODY
        environ["wsgi.input"] = inp
        resp = _Response(self, fd, flags, inp, environ["REQUEST_METHOD"] == "HEAD")
        try:
            result = self.app(environ, resp.start_response)
            try:
                resp.serve(result)
            finally:
                if type(result) is not list:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            keep = resp.keep_alive()
        except Exception as exc:
            keep = self._failed(environ, resp, exc)
        leftover = b""
        if keep:
            if inp is NO_BODY:
                leftover = data
            elif inp.drain(self.max_drain):
                leftover = inp.leftover()
            else:
                keep = False
        # The fd goes back to the engine and may soon carry another client:
        # an app that kept write() or wsgi.input must not reach it.
        resp.fd = -1
        if inp is not NO_BODY:
            inp.detach()
        if self.access_log is not None:
            self._log_access(environ, resp, start)
        return keep, leftover

    def _failed(self, environ: dict[str, Any], resp: _Response, exc: Exception) -> bool:
        """Answer 400/500 for an exception if still possible; keep-alive?"""
        # the app may have rewritten the environ: read it defensively
        method, target = environ.get("REQUEST_METHOD"), environ.get("RAW_URI")
        if resp.gone or isinstance(exc, ClientGone):
            self.error_log.debug("client gone during %s %s: %s", method, target, exc)
            return False
        if isinstance(exc, BadBody):
            status = 400
            self.error_log.info("bad request body in %s %s: %s", method, target, exc)
        else:
            status = 500
            self.error_log.exception("error in the WSGI app serving %s %s", method, target)
        if resp.head_sent:
            return False  # abort: the client sees the response cut short
        return self._send_error(resp, status)

    def _send_error(self, resp: _Response, status: int) -> bool:
        line, body = _ERROR_BODIES[status]
        headers = [("Content-Type", "text/plain; charset=utf-8"),
                   ("Content-Length", str(len(body)))]
        if status == 400 or resp.inp.broken:
            headers.append(("Connection", "close"))
        resp.reset()
        try:
            resp.start_response(line, headers)
            resp.serve([body])
        except ClientGone:
            return False
        return resp.keep_alive()

    def _log_access(self, environ: dict[str, Any], resp: _Response, start: float) -> None:
        get = environ.get
        self.access_log.log(
            get("REMOTE_ADDR") or "-",
            get("REQUEST_METHOD"),
            get("RAW_URI"),
            get("SERVER_PROTOCOL"),
            resp.code,
            resp.sent,
            time.perf_counter() - start,
        )

    def learn_status(self, status: str) -> tuple[int, bytes, bool]:
        """Validate a status not seen before: (code, status line, bodyless)."""
        if not isinstance(status, str):
            raise TypeError(f"status must be str, not {type(status).__name__}")
        if _STATUS.fullmatch(status) is None:
            raise ValueError(f"invalid status {status!r}: expected e.g. '200 OK'")
        code = int(status[:3])
        entry = (code, b"HTTP/1.1 " + status.encode("latin-1") + CRLF,
                 code < 200 or code == 204 or code == 304)
        if len(self.statuses) < _CACHE_MAX:
            self.statuses[status] = entry
        return entry

    def learn_header(self, pair: tuple[str, str]) -> tuple[int, bytes]:
        """Validate a header not seen before: (kind, encoded line)."""
        name, value = pair
        kind = self.kinds.get(name)
        if kind is None:
            kind = self._learn_name(name)
        if not isinstance(value, str):
            raise TypeError(f"header value of {name!r} must be str, not {type(value).__name__}")
        if _BAD_VALUE(value):
            raise ValueError(f"control character in header {name!r}: {value!r}")
        entry = (kind, f"{name}: {value}\r\n".encode("latin-1"))
        if kind != LENGTH and type(pair) is tuple:
            if len(self.lines) >= _LINE_CACHE_MAX:
                self.lines.clear()  # one-off values filled it: relearn the common ones
            self.lines[pair] = entry
        return entry

    def _learn_name(self, name: str) -> int:
        if not isinstance(name, str):
            raise TypeError(f"header name must be str, not {type(name).__name__}")
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"invalid header name {name!r}")
        kind = RESPONSE_FIELD_KINDS.get(name.lower(), PLAIN)
        if len(self.kinds) < _CACHE_MAX:
            self.kinds[name] = kind
        return kind
