"""The HTTP/1.1 response head: one set of rules for WSGI and ASGI.

Runs in: worker interpreters (sans I/O: bytes and decisions out, no socket).

The WSGI and ASGI adapters differ in the types an app hands them (``str``
status and headers against ``int`` and ``bytes``), in how they learn a
body's length, and in their I/O. Everything else about a response head is
decided here, once:

- Status: a code from 100 to 599 (RFC 9110 15); WSGI's status text must
  be ``"NNN reason"`` without control characters.
- Header fields: names are tokens; values hold no control character but
  HTAB (CR, LF or NUL would split the response) and lose surrounding
  whitespace (RFC 9110 5.5). Hop-by-hop fields from the app are dropped
  (PEP 3333's list); ``Connection: close`` among them is honoured, matched
  as a token. ``Content-Length`` must be digits, repeated values must
  agree, and it is sent with the framing. ``Date`` and ``Server`` are added
  unless the app set them.
- Framing: the app's Content-Length; else a length the adapter knows (one
  body chunk, a short list); else chunked on HTTP/1.1 and close-delimited
  on HTTP/1.0. HEAD gets the GET headers without a body and without
  chunked. 1xx and 204 get no framing, 304 only the app's length.
- Keep-alive: the client asked for it (the engine's KEEP_ALIVE flag), the
  app did not ask to close, the response is final and its end is known,
  and the adapter agrees (the request body can be drained within
  ``MAX_DRAIN``, no graceful stop began).
- The body never exceeds the app's Content-Length: the excess is cut.

Caches: apps send the same statuses and header lists again and again, so
validated, encoded forms are kept, bounded (names and values are the app's,
but a bound keeps a one-off-per-request pattern from growing memory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from subserve.http.wire import (
    CHUNKED_FRAMING,
    CONNECTION,
    CRLF,
    DATE,
    END_CLOSE,
    END_KEEP_10,
    END_KEEP_11,
    HOP,
    LENGTH,
    PLAIN,
    RESPONSE_FIELD_KINDS,
    std_headers,
)

MAX_DRAIN = 1 << 20   # unread request body bytes discarded to keep a connection
CACHE_MAX = 1024      # entries in each cache before it is cleared

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search
_STATUS_TEXT = re.compile(r"([1-5][0-9][0-9]) [^\x00-\x08\x0a-\x1f\x7f]*")
_KINDS = {name.encode(): kind for name, kind in RESPONSE_FIELD_KINDS.items()}
# Date (1) and Server (2) lines still to add, as std_headers takes them.
_OWN_BOTH = 3

def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode("latin-1"))


STATUS_LINES = {code: _status_line(code) for code in range(100, 600)}  # RFC 9110 15


def error_page(code: int) -> tuple[str, bytes]:
    """(reason phrase, text/plain body) of the 400, 413 and 500 we answer ourselves."""
    phrase = HTTPStatus(code).phrase
    return phrase, phrase.encode("latin-1") + b"\n"


def bodyless(code: int) -> bool:
    """1xx, 204 and 304 responses carry no content (RFC 9110 6.4.1)."""
    return code < 200 or code == 204 or code == 304


class HeaderBlock:
    """An app's header list, validated and encoded (immutable: shared by
    every response that sends the same list)."""

    __slots__ = ("lines", "length", "close", "own")

    def __init__(self, lines: bytes, length: int | None, close: bool, own: int) -> None:
        self.lines = lines      # the fields we send as they are
        self.length = length    # the app's Content-Length
        self.close = close      # the app asked for Connection: close
        self.own = own          # Date (1) and Server (2) lines we add

    def __repr__(self) -> str:
        return (f"HeaderBlock({self.lines!r}, length={self.length}, close={self.close}, "
                f"own={self.own})")


NO_HEADERS = HeaderBlock(b"", None, False, _OWN_BOTH)  # before the app starts a response


def _content_length(value: bytes, previous: int | None) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"invalid Content-Length {value!r}")
    length = int(value)
    if previous is not None and previous != length:
        raise ValueError("conflicting Content-Length headers")
    return length


def _asks_close(value: bytes) -> bool:
    return any(token.strip() == b"close" for token in value.lower().split(b","))


def encode_field(name: bytes, value: bytes) -> tuple[int, bytes, bytes]:
    """Validate one response field: (kind, b"name: value\\r\\n", stripped value)."""
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"invalid header name {name!r}")
    value = value.strip(b" \t")
    if _BAD_VALUE(value) is not None:
        raise ValueError(f"control character in header {name!r}: {value!r}")
    return _KINDS.get(name.lower(), PLAIN), name + b": " + value + CRLF, value


def _wsgi_pair(pair: Any) -> tuple[bytes, bytes]:
    """A PEP 3333 header pair as bytes: native strings, latin-1."""
    name, value = pair
    if not isinstance(name, str):
        raise TypeError(f"header name must be str, not {type(name).__name__}")
    if not isinstance(value, str):
        raise TypeError(f"header value of {name!r} must be str, not {type(value).__name__}")
    return name.encode("latin-1"), value.encode("latin-1")


def _asgi_pair(pair: Any) -> tuple[bytes, bytes]:
    """An ASGI header pair: bytes (or bytearray) both."""
    name, value = pair
    if not isinstance(name, (bytes, bytearray)) or not isinstance(value, (bytes, bytearray)):
        raise TypeError("ASGI header names and values must be bytes")
    return bytes(name), bytes(value)


class HeadEncoder:
    """Validates and encodes what one worker's app says of its responses
    (status, header lists), with caches.

    ``text=True`` takes WSGI's native strings, ``False`` ASGI's bytes.
    """

    def __init__(self, *, text: bool) -> None:
        self._text = text
        self._as_bytes: Callable[[Any], tuple[bytes, bytes]] = _wsgi_pair if text else _asgi_pair
        self._starts: dict[tuple[Any, ...], tuple[int, bytes, HeaderBlock]] = {}
        self._fields: dict[Any, tuple[int, bytes, bytes]] = {}

    def start(self, status: Any, headers: Iterable[Any]) -> tuple[int, bytes, HeaderBlock]:
        """(code, status line, header block) of a response an app starts:
        WSGI's ``start_response(status, headers)``, ASGI's
        ``http.response.start``. Cached whole: apps repeat themselves."""
        key = (status, tuple(headers)) if type(headers) is list or type(headers) is tuple else None
        if key is not None:
            try:
                found = self._starts.get(key)
            except TypeError:  # unhashable pairs: _build says what is wrong
                key = found = None
            if found is not None:
                return found
        code, line = self._status(status)
        found = (code, line, self._build(headers if key is None else key[1]))
        if key is not None:
            if len(self._starts) >= CACHE_MAX:
                self._starts.clear()
            self._starts[key] = found
        return found

    def line(self, pair: Any) -> bytes:
        """One validated field line (trailers, a WebSocket accept's extras)."""
        return self._field(pair)[1]

    def _status(self, status: Any) -> tuple[int, bytes]:
        """(code, status line): of an int for ASGI, of text such as ``"200 OK"`` for WSGI."""
        if not self._text:
            line = STATUS_LINES.get(status) if type(status) is int else None
            if line is None:
                raise ValueError(f"invalid HTTP status {status!r}")
            return status, line
        if not isinstance(status, str):
            raise TypeError(f"status must be str, not {type(status).__name__}")
        match = _STATUS_TEXT.fullmatch(status)
        if match is None:
            raise ValueError(f"invalid status {status!r}: expected e.g. '200 OK'")
        return int(match.group(1)), b"HTTP/1.1 " + status.encode("latin-1") + CRLF

    def _build(self, headers: Iterable[Any]) -> HeaderBlock:
        lines = []
        length = None
        close = False
        own = _OWN_BOTH
        for pair in headers:
            kind, line, value = self._field(pair)
            if not kind:
                lines.append(line)
            elif kind == LENGTH:
                length = _content_length(value, length)  # sent with the framing
            elif kind == CONNECTION:
                close = close or _asks_close(value)
            elif kind != HOP:
                own &= ~1 if kind == DATE else ~2
                lines.append(line)
        return HeaderBlock(b"".join(lines), length, close, own)

    def _field(self, pair: Any) -> tuple[int, bytes, bytes]:
        fields = self._fields
        found = fields.get(pair) if type(pair) is tuple else None
        if found is None:
            found = encode_field(*self._as_bytes(pair))
            # a Content-Length value changes with every body: not worth keeping
            if type(pair) is tuple and found[0] != LENGTH:
                if len(fields) >= CACHE_MAX:
                    fields.clear()
                fields[pair] = found
        return found


def head(code: int, line: bytes, block: HeaderBlock, length: int | None, is_head: bool,
         http11: bool, keep: bool, may_keep: Callable[[], bool]) -> tuple[bytes, bool, bool]:
    """The response head, and the two decisions made with it: (head, chunked?, keep-alive?).

    ``length`` is the body's length if known (the app's, or what the
    adapter counted), ``keep`` what the client asked; the app's ``close``
    is applied here, and ``may_keep`` (the adapter's request-body and
    draining checks) is asked last, only if the connection could be kept.
    """
    keep = keep and not block.close
    chunked = False
    if code < 200 or code == 204 or code == 304:
        # no content: a 1xx cannot be the final response; a 304 may carry the length
        framing = (b"Content-Length: %d\r\n" % block.length
                   if code == 304 and block.length is not None else b"")
        keep = keep and code >= 200
    elif length is not None:
        framing = b"Content-Length: %d\r\n" % length
    elif is_head:
        framing = b""  # GET would be chunked; HEAD has no body to frame
    elif http11:
        framing, chunked = CHUNKED_FRAMING, True
    else:
        framing, keep = b"", False  # HTTP/1.0 without a length: the close ends the body
    if keep:
        keep = may_keep()
    end = (END_KEEP_11 if http11 else END_KEEP_10) if keep else END_CLOSE
    return b"".join((line, block.lines, std_headers(block.own), framing, end)), chunked, keep


def drainable(expect_pending: bool, unread: int, limit: int = MAX_DRAIN) -> bool:
    """Whether the unread rest of a request body can be read and dropped to
    reuse the connection: not when the client still waits for a 100 Continue
    (it may never send the body), nor past ``limit`` bytes."""
    return not expect_pending and unread <= limit


def clip(data: bytes, length: int, sent: int) -> bytes:
    """What of ``data`` fits within the app's Content-Length."""
    room = length - sent
    return data if len(data) <= room else data[:max(room, 0)]
