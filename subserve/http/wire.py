"""HTTP/1.1 wire pieces shared by the WSGI and ASGI handlers.

Runs in: worker interpreters (sans I/O).

The Date and Server lines (the Date text recomputed once a second), the
interim 100 Continue, and the chunked-body syntax and limits (RFC 9112 7.1).
"""

from __future__ import annotations

import re
import time

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
READ_BLOCK = 64 * 1024     # bytes asked of one read from a connection
MAX_CHUNK_LINE = 4096      # chunk-size line with its (ignored) extensions
MAX_TRAILERS = 16 * 1024   # all trailer lines together, then discarded

# chunk = chunk-size [ chunk-ext ] CRLF; the extension is skipped but must be
# free of control characters.  16 hex digits bound the size to 64 bits.
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\x00-\x08\x0a-\x1f\x7f]*)?")
TRAILER_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*")


# What a response field name means to a handler (names lower-cased). The
# hop-by-hop names are PEP 3333's list (RFC 2616 13.5.1); apps may not set them.
PLAIN, LENGTH, CONNECTION, HOP, DATE, SERVER = range(6)
RESPONSE_FIELD_KINDS = {
    "content-length": LENGTH,
    "connection": CONNECTION,
    "date": DATE,
    "server": SERVER,
    "keep-alive": HOP,
    "proxy-authenticate": HOP,
    "proxy-authorization": HOP,
    "te": HOP,
    "trailers": HOP,
    "transfer-encoding": HOP,
    "upgrade": HOP,
}

# Pieces of a response head and body. Keep-alive is HTTP/1.1's default, not
# HTTP/1.0's, so only 1.0 needs it said.
CRLF = b"\r\n"
CHUNKED_FRAMING = b"Transfer-Encoding: chunked\r\n"
LAST_CHUNK = b"0\r\n\r\n"
END_KEEP_11 = b"\r\n"
END_KEEP_10 = b"Connection: keep-alive\r\n\r\n"
END_CLOSE = b"Connection: close\r\n\r\n"


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SERVER_LINE = b"Server: subserve\r\n"

# (second, Date+Server lines, Date line): replaced whole, so threads that
# race on it each see a consistent tuple.
_date_cache: tuple[int, bytes, bytes] = (-1, b"", b"")


def std_headers(own: int) -> bytes:
    """Date and/or Server lines (bit 1: Date, bit 2: Server)."""
    global _date_cache
    now = int(time.time())
    if now != _date_cache[0]:
        t = time.gmtime(now)
        date = (f"Date: {WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon]} "
                f"{t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT\r\n").encode()
        _date_cache = (now, date + SERVER_LINE, date)
    if own == 3:
        return _date_cache[1]
    if own == 1:
        return _date_cache[2]
    return SERVER_LINE if own == 2 else b""
