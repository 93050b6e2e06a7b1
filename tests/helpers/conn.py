"""A socketpair standing in for a client connection, for handlers under test.

Runs in: the test process.
"""

from __future__ import annotations

import socket

from .http import Response, read_responses


def parse_responses(raw: bytes, head: bool = False) -> list[Response]:
    """The responses in what a handler wrote (1xx included), each answering a
    GET (or a HEAD); a handler always answers as HTTP/1.1."""
    responses = read_responses(raw, "HEAD" if head else "GET")
    assert all(r.version == "HTTP/1.1" for r in responses), responses
    return responses


class Conn:
    """A socketpair: ``fd`` is the server side, ``client`` the peer."""

    def __init__(self) -> None:
        self.server, self.client = socket.socketpair()

    @property
    def fd(self) -> int:
        return self.server.fileno()

    def read_all(self) -> bytes:
        """Everything the handler wrote so far (it has returned already)."""
        self.client.setblocking(False)
        chunks = []
        try:
            while True:
                data = self.client.recv(1 << 20)
                if not data:
                    break
                chunks.append(data)
        except BlockingIOError:
            pass
        self.client.setblocking(True)
        return b"".join(chunks)

    def responses(self, head: bool = False) -> list[Response]:
        return parse_responses(self.read_all(), head)

    def response(self, head: bool = False) -> Response:
        (resp,) = self.responses(head)
        return resp

    def close(self) -> None:
        self.server.close()
        self.client.close()
