"""One table of response cases, run through the WSGI and the ASGI adapter alike.

Runs in: the test process. Each case is a status, the app's headers, a body
shape, the request's method and version; both interfaces serve it over a
socketpair (``WSGIHandler.handle`` and ``HTTPCycle.run``, no server), and
must put the same head on the wire (Date aside), the same body, and take
the same keep-alive decision, which the table states.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from helpers.items import build_record
from helpers.settings import worker_settings

from subserve.asgi.cycle import HTTPCycle
from subserve.asgi.server import HTTPServer
from subserve.handoff.item import HTTP11, KEEP_ALIVE
from subserve.http.response import HeadEncoder, HeaderBlock, encode_field, head
from subserve.wsgi.handler import WSGIHandler

QUIET = logging.getLogger("subserve.test.response")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False

NO_ENGINE = SimpleNamespace(draining=False)  # all a cycle asks of its engine here
VERSIONS = {"1.1": KEEP_ALIVE | HTTP11, "1.1 close": HTTP11, "1.0": 0,
            "1.0 keep-alive": KEEP_ALIVE}
CT = ("Content-Type", "text/plain")


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    headers: list[tuple[str, str]]
    body: str                 # "one": one chunk; "stream": two chunks, length unknown; "empty"
    framing: str              # "length N", "chunked", "none" (no framing field)
    keep: bool
    method: str = "GET"
    version: str = "1.1"
    sent_body: bytes = b"hello"  # what the client receives as the body
    present: list[str] = field(default_factory=list)   # head lines that must be there
    absent: list[str] = field(default_factory=list)    # header names that must not


CASES = [
    Case("one chunk gets its length", 200, [CT], "one", "length 5", True),
    Case("a stream is chunked on 1.1", 200, [CT], "stream", "chunked", True),
    Case("a stream is close-delimited on 1.0", 200, [CT], "stream", "none", False,
         version="1.0", present=["Connection: close"]),
    Case("1.0 keep-alive without a length closes", 200, [CT], "stream", "none", False,
         version="1.0 keep-alive"),
    Case("1.0 keep-alive with a length keeps", 200, [CT], "one", "length 5", True,
         version="1.0 keep-alive", present=["Connection: keep-alive"]),
    Case("the app's length frames a stream", 200, [CT, ("Content-Length", "5")], "stream",
         "length 5", True),
    Case("a stream on HEAD has no framing", 200, [CT], "stream", "none", True, method="HEAD",
         sent_body=b""),
    Case("one chunk on HEAD keeps GET's length", 200, [CT], "one", "length 5", True,
         method="HEAD", sent_body=b""),
    Case("an empty body has length 0", 200, [CT], "empty", "length 0", True, sent_body=b""),
    Case("204 has no framing", 204, [], "empty", "none", True, sent_body=b""),
    Case("204 drops the app's length", 204, [("Content-Length", "5")], "one", "none", True,
         sent_body=b""),
    Case("304 keeps the app's length", 304, [("Content-Length", "5"), ("ETag", '"x"')],
         "empty", "length 5", True, sent_body=b"", present=['ETag: "x"']),
    Case("a 1xx cannot end a response", 103, [("Link", "</s.css>")], "empty", "none", False,
         sent_body=b""),
    Case("the app's Connection: close", 200, [CT, ("Connection", "close")], "one", "length 5",
         False, present=["Connection: close"]),
    Case("close is a token of Connection", 200, [CT, ("Connection", "keep-alive, Close")],
         "one", "length 5", False),
    Case("close inside another token is not close", 200, [CT, ("Connection", "foo-close")],
         "one", "length 5", True),
    Case("the client's Connection: close", 200, [CT], "one", "length 5", False,
         version="1.1 close", present=["Connection: close"]),
    Case("hop-by-hop fields are dropped", 200,
         [CT, ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "gzip"), ("Upgrade", "h2c"),
          ("TE", "trailers")], "one", "length 5", True,
         absent=["keep-alive", "upgrade", "te"]),
    Case("the app's Date and Server are kept", 200,
         [("Server", "mine"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")], "one", "length 5", True,
         present=["Server: mine", "Date: Thu, 01 Jan 1970 00:00:00 GMT"]),
    Case("values lose surrounding whitespace", 200, [("X-A", " \tv w \t")], "one", "length 5",
         True, present=["X-A: v w"]),
    Case("a padded Content-Length is read", 200, [("Content-Length", " 5 ")], "one", "length 5",
         True),
    Case("the app's length is a ceiling", 200, [("Content-Length", "3")], "one", "length 3",
         True, sent_body=b"hel"),
    Case("an unregistered status", 299, [CT], "one", "length 5", True),
    Case("a 500 from the app", 500, [CT], "one", "length 5", True),
]

INVALID = {
    "CR LF in a value": (200, [("X-Bad", "a\r\nSet-Cookie: evil=1")]),
    "NUL in a value": (200, [("X-Bad", "a\0b")]),
    "a space in a name": (200, [("X Bad", "v")]),
    "a colon in a name": (200, [("X-Bad:", "v")]),
    "a negative length": (200, [("Content-Length", "-1")]),
    "conflicting lengths": (200, [("Content-Length", "1"), ("Content-Length", "2")]),
    "status 600": (600, []),
    "status 99": (99, []),
}


def request_item(fd: int, method: str, version: str) -> tuple[int, int, int, bytes, bytes]:
    record = build_record(method.encode(), b"/r", ("127.0.0.1", "40000"), ("127.0.0.1", "8000"),
                          [(b"host", b"test")])
    return fd, VERSIONS[version], -1, record, b""


def chunks(body: str) -> list[bytes]:
    return {"one": [b"hello"], "stream": [b"hel", b"lo"], "empty": []}[body]


def status_text(code: int) -> str:
    """The WSGI status for a code: the phrase ASGI's table also uses."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} "


def serve_wsgi(status: int, headers: list[tuple[str, str]], body: str, method: str,
               version: str) -> tuple[bool, bytes]:
    def app(environ, start_response):
        start_response(status_text(status), list(headers))
        if body == "stream":
            return iter(chunks(body))  # a generator-like body: length unknown
        return chunks(body)

    handler = WSGIHandler(app, worker_settings(), access_log=None, error_log=QUIET,
                          is_draining=lambda: False)
    return _over_socketpair(lambda fd: handler.handle(request_item(fd, method, version))[0])


def serve_asgi(status: int, headers: list[tuple[str, str]], body: str, method: str,
               version: str) -> tuple[bool, bytes]:
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": raw})
        parts = chunks(body) or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part,
                        "more_body": i < len(parts) - 1})

    async def run(fd: int) -> bool:
        server = HTTPServer(app, worker_settings(), engine=NO_ENGINE, access_log=None,
                            error_log=QUIET, state={})
        cycle = HTTPCycle(server, request_item(fd, method, version))
        try:
            return (await cycle.run())[0]
        finally:
            cycle.close_io()

    return _over_socketpair(lambda fd: asyncio.run(run(fd)))


def _over_socketpair(serve) -> tuple[bool, bytes]:
    server, client = socket.socketpair()
    try:
        keep = serve(server.fileno())
        server.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
        return keep, data
    finally:
        server.close()
        client.close()


OUR_DATE = "Date: (ours)"


def split(raw: bytes) -> tuple[str, list[str], bytes]:
    """(status line, header lines, body) of one response; the Date line we
    add (its time differs between runs) reads ``OUR_DATE``."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw
    status, *lines = head.decode("latin-1").split("\r\n")
    lines = [OUR_DATE if line.startswith("Date: ") and line.endswith(" GMT") and "1970" not in line
             else line for line in lines]
    return status, lines, body


def decode_chunked(body: bytes) -> bytes:
    """A chunked body, checked strictly: every chunk's CRLF, the last chunk."""
    out = b""
    while True:
        size_line, sep, body = body.partition(b"\r\n")
        assert sep, body
        size = int(size_line, 16)
        if not size:
            assert body == b"\r\n"  # no trailers, nothing after
            return out
        assert body[size:size + 2] == b"\r\n"
        out, body = out + body[:size], body[size + 2:]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_interfaces_give_the_same_response(case: Case) -> None:
    args = (case.status, case.headers, case.body, case.method, case.version)
    wsgi_keep, wsgi_raw = serve_wsgi(*args)
    asgi_keep, asgi_raw = serve_asgi(*args)
    wsgi, asgi = split(wsgi_raw), split(asgi_raw)
    assert wsgi == asgi, (wsgi_raw, asgi_raw)
    assert wsgi_keep == asgi_keep == case.keep
    status, lines, body = wsgi
    assert status.startswith(f"HTTP/1.1 {case.status} ")
    framing = [line for line in lines if line.startswith(("Content-Length:", "Transfer-Encoding:"))]
    expected = {"chunked": ["Transfer-Encoding: chunked"], "none": []}.get(
        case.framing, [f"Content-Length: {case.framing.split()[-1]}"])
    assert framing == expected
    if case.framing == "chunked":
        body = decode_chunked(body)
    assert body == case.sent_body
    assert ("Connection: close" in lines) == (not case.keep)
    names = [line.partition(":")[0].lower() for line in lines]
    assert names.count("date") == names.count("server") == 1
    if not any(name == "Date" for name, _ in case.headers):
        assert OUR_DATE in lines and "Server: subserve" in lines
    for line in case.present:
        assert line in lines
    for name in case.absent:
        assert name not in names


@pytest.mark.parametrize("name", sorted(INVALID))
def test_both_interfaces_answer_500_for_an_invalid_head(name: str) -> None:
    status, headers = INVALID[name]
    for serve in (serve_wsgi, serve_asgi):
        keep, raw = serve(status, headers, "one", "GET", "1.1")
        line, lines, body = split(raw)
        assert line == "HTTP/1.1 500 Internal Server Error", (serve.__name__, raw)
        assert body == b"Internal Server Error\n"
        assert b"evil" not in raw and b"X-Bad" not in raw
        assert keep, serve.__name__  # the request's framing is intact: the connection stays


# -- the sans-I/O pieces on their own ---------------------------------------------


def test_head_is_the_single_decision() -> None:
    block = HeaderBlock(b"X-A: 1\r\n", None, False, 0)  # own=0: no Date/Server lines
    line = b"HTTP/1.1 200 OK\r\n"
    asked: list[bool] = []

    def may_keep() -> bool:
        asked.append(True)
        return True

    assert head(200, line, block, 5, False, True, True, may_keep) == (
        line + b"X-A: 1\r\nContent-Length: 5\r\n\r\n", False, True)
    assert head(200, line, block, None, False, True, True, may_keep)[1:] == (True, True)
    assert head(200, line, block, None, False, False, True, may_keep)[1:] == (False, False)
    assert len(asked) == 2  # not asked when the framing already rules keep-alive out
    closing = head(200, line, HeaderBlock(block.lines, None, True, 0), 5, False, True, True, may_keep)
    assert closing[0].endswith(b"Connection: close\r\n\r\n") and closing[2] is False
    assert head(101, line, block, None, False, True, True, may_keep)[1:] == (False, False)
    assert len(asked) == 2
    assert head(200, line, block, 5, False, True, True, lambda: False)[2] is False


def test_encode_field_strips_and_refuses_controls() -> None:
    assert encode_field(b"X-A", b" v ") == (0, b"X-A: v\r\n", b"v")
    with pytest.raises(ValueError):
        encode_field(b"X-A", b"a\x7fb")
    with pytest.raises(ValueError):
        encode_field(b"X A", b"v")


def test_encoder_caches_are_bounded() -> None:
    asgi, wsgi = HeadEncoder(text=False), HeadEncoder(text=True)
    for i in range(3000):
        asgi.start(200, [(b"x-n", b"%d" % i)])
        wsgi.start(f"200 n{i}", [("X-N", str(i))])
    for encoder in (asgi, wsgi):
        assert len(encoder._starts) <= 1024 and len(encoder._fields) <= 1024


def test_a_repeated_start_is_served_from_the_cache() -> None:
    encoder = HeadEncoder(text=True)
    first = encoder.start("200 OK", [("X-A", "1")])
    assert encoder.start("200 OK", [("X-A", "1")]) is first
    assert encoder.start("201 Created", [("X-A", "1")])[:2] == (201, b"HTTP/1.1 201 Created\r\n")


def test_wsgi_and_asgi_types_are_enforced() -> None:
    with pytest.raises(TypeError):
        HeadEncoder(text=True).start("200 OK", [(b"X", "v")])
    with pytest.raises(TypeError):
        HeadEncoder(text=False).start(200, [("x", b"v")])
    with pytest.raises(TypeError):
        HeadEncoder(text=True).start(b"200 OK", [])
    with pytest.raises(ValueError):
        HeadEncoder(text=False).start("200 OK", [])
