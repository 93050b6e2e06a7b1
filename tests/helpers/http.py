"""HTTP/1.1 responses read as a client reads them, with h11 as the reference.

Runs in: the test process.

The one response reader of the suite. It reads off a socket, incrementally
(bytes past a response stay for the next read, and ``pending`` shows them),
or off a bytes blob (a whole stream that ends in a close). h11 frames a
response by the request it answers (a HEAD's has no body), so for every
response it expects the reader sends a matching ``h11.Request`` on its own
client connection and throws those bytes away: the test has sent the real
request already, raw.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload

import h11


class Headers(Sequence[tuple[str, str]]):
    """Fields in wire order with their names as sent; lookups ignore case.

    Compares equal to a list of (name, value) pairs in the same order.
    """

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self.fields = list(fields)

    @overload
    def __getitem__(self, key: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, key: str) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[tuple[str, str]]: ...

    def __getitem__(self, key: int | str | slice) -> tuple[str, str] | str | list[tuple[str, str]]:
        if not isinstance(key, str):
            return self.fields[key]
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):  # a field name
            return bool(self.getall(item))
        return item in self.fields

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self.fields == other.fields
        if isinstance(other, list | tuple):
            return self.fields == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"Headers({self.fields!r})"

    def getall(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.fields if n.lower() == name]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's values joined by ", " (RFC 9110 5.3), or ``default``."""
        values = self.getall(name)
        return ", ".join(values) if values else default


@dataclass
class Response:
    """One response as the client saw it; ``body`` is unframed (no chunk sizes)."""

    version: str  # as on the status line: "HTTP/1.1"
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=Headers)

    @property
    def interim(self) -> bool:
        """A 1xx response (100 Continue): the final one is still to come."""
        return self.status < 200

    def get(self, name: str) -> str | None:
        return self.headers.get(name)


class _H11Fields(Protocol):
    def raw_items(self) -> list[tuple[bytes, bytes]]: ...


def _headers(fields: _H11Fields) -> Headers:
    # raw_items keeps the names as sent; h11's own iteration lower-cases them
    return Headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in fields.raw_items())


def _keeps_alive(response: Response, version: str) -> bool:
    """Whether the connection may carry another exchange after ``response``.

    h11 sends only HTTP/1.1 requests, so for HTTP/1.0 the rule is applied here:
    persistent only when the response says keep-alive (RFC 9112 9.3).
    """
    tokens = {t.strip().lower() for t in response.headers.get("connection", "").split(",")}
    return "keep-alive" in tokens if version == "1.0" else "close" not in tokens


class ResponseReader:
    """Responses off one connection: a socket, or a blob of bytes that ends in a close."""

    def __init__(self, source: socket.socket | bytes, *, recv_size: int = 65536) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.sock = source if isinstance(source, socket.socket) else None
        self.recv_size = recv_size
        self.waiting_final = False  # an interim response came; its request's final one has not
        self.request: tuple[str, str] | None = None  # (method, version) being answered
        self.reusable = True  # the last exchange left the connection open for another
        if self.sock is None:
            if source:
                self.h11.receive_data(bytes(source))
            self.h11.receive_data(b"")  # the end of the blob is a close

    @property
    def pending(self) -> bytes:
        """Bytes received past the responses read so far."""
        return self.h11.trailing_data[0]

    def read(self, method: str = "GET", version: str = "1.1") -> Response:
        """The next response, interim (1xx) ones included, to a request of
        ``method`` sent as HTTP/``version``."""
        self._expect(method, version)
        response: Response | None = None
        body: list[bytes] = []
        while True:
            event = self._next_event()
            if isinstance(event, h11.InformationalResponse):
                self.waiting_final = True
                return self._response(event)
            if isinstance(event, h11.Response):
                response = self._response(event)
                if version == "1.0":
                    # h11 sends only 1.1 requests, so it cannot refuse this itself
                    assert "chunked" not in response.headers.get("transfer-encoding", "").lower(), (
                        f"chunked response to an HTTP/1.0 request: {response}")
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                response.body = b"".join(body)
                response.trailers = _headers(event.headers)
                self.waiting_final = False
                self.reusable = _keeps_alive(response, version)
                return response
            else:
                raise AssertionError(f"connection closed before a whole response: {event!r}")

    def _expect(self, method: str, version: str) -> None:
        """Tell h11 which request the next response answers."""
        if self.waiting_final:  # the final response to the same request
            assert self.request == (method, version), (
                f"the final response due answers {self.request}, not {(method, version)}")
            return
        if self.request is not None:
            if not self.reusable or self.h11.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                raise AssertionError(f"no next response: the last one closed the connection "
                                     f"(HTTP/{self.request[1]}, {self.h11.states})")
            self.h11.start_next_cycle()
        self.request = (method, version)
        self.h11.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
        self.h11.send(h11.EndOfMessage())

    def _next_event(self) -> h11.Event:
        while (event := self.h11.next_event()) is h11.NEED_DATA:
            assert self.sock is not None, "a blob was fed with its end: h11 cannot need data"
            self.h11.receive_data(self.sock.recv(self.recv_size))
        return event

    def _response(self, event: h11.Response | h11.InformationalResponse) -> Response:
        return Response(f"HTTP/{event.http_version.decode()}", event.status_code,
                        event.reason.decode("latin-1"), _headers(event.headers))


def read_responses(data: bytes, method: str = "GET", version: str = "1.1") -> list[Response]:
    """Every response in ``data`` (interim ones too), each answering a request
    of ``method``; the end of ``data`` counts as a close."""
    reader = ResponseReader(data)
    responses = []
    while reader.pending or reader.waiting_final:
        responses.append(reader.read(method, version))
    return responses
