"""ASGI WebSockets against a real server: echo, close codes, limits, deflate, pings.

Runs in: the test process (servers run as subprocesses with cwd tests/apps).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import httpx
import pytest
from helpers.server import connect, ws_url

try:
    from websockets.sync import client as ws_client
except ImportError:
    ws_client = None

needs_websockets = pytest.mark.skipif(ws_client is None, reason="websockets is not installed")


@needs_websockets
def test_websocket_echo_subprotocol_and_big_message(asgi_server) -> None:
    with ws_client.connect(ws_url(asgi_server, "/ws"), subprotocols=["chat"],
                           max_size=4 << 20) as ws:
        assert ws.subprotocol == "chat" and ws.response.headers["x-ws"] == "yes"
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send("scope")
        assert json.loads(ws.recv()) == {"type": "websocket", "scheme": "ws", "path": "/ws",
                                         "subprotocols": ["chat"], "has_method": False}
        big = os.urandom(1 << 20)
        ws.send(big)
        assert ws.recv() == big
        ws.send(["frag", "mented"])  # one message in several frames
        assert ws.recv() == "fragmented"
        assert ws.ping().wait(5)


@needs_websockets
def test_websocket_close_codes_and_rejection(asgi_server, tmp_path) -> None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    with ws_client.connect(ws_url(asgi_server, "/ws")) as ws:
        ws.send("close:4001")
        with pytest.raises(ConnectionClosed):
            ws.recv()
        assert ws.close_code == 4001 and ws.close_reason == "asked"
    with ws_client.connect(ws_url(asgi_server, "/ws")) as ws:
        ws.close(code=4002)
    marker = tmp_path / "ws-disconnect"
    for _ in range(100):
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.05)
    assert marker.read_text() == "4002"  # the client's close code reached the app
    with pytest.raises(InvalidStatus) as info:
        ws_client.connect(ws_url(asgi_server, "/ws-reject"))
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        ws_client.connect(ws_url(asgi_server, "/ws-error"))
    assert info.value.response.status_code == 500
    assert httpx.get(asgi_server.url + "/hello").text == "Hello, world!"


@needs_websockets
def test_websocket_max_size_option_closes_1009(start_server) -> None:
    from websockets.exceptions import ConnectionClosed

    server = start_server("asgi_apps:app", "--workers", "1", "--ws-max-size", "1000")
    with ws_client.connect(ws_url(server, "/ws"), max_size=None) as ws:
        ws.send(b"x" * 1000)
        assert ws.recv() == b"x" * 1000
        with pytest.raises(ConnectionClosed):
            ws.send(b"x" * 1001)
            ws.recv()
        assert ws.close_code == 1009


@needs_websockets
def test_websocket_per_message_deflate(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1")
    text = "compressible " * 80_000  # ~1 MiB
    with ws_client.connect(ws_url(server, "/ws"), max_size=None) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        ws.send(text)
        assert ws.recv() == text
    off = start_server("asgi_apps:app", "--workers", "1", "--no-ws-per-message-deflate")
    with ws_client.connect(ws_url(off, "/ws")) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv() == "plain"


def _ws_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed inside a frame"
            data += chunk
        return data

    first, length = exactly(2)
    assert length < 126  # control frames and the short messages used here
    return first & 0x0F, exactly(length)


@needs_websockets
def test_websocket_server_pings_and_closes_a_silent_peer(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--ws-ping-interval", "0.2",
                          "--ws-ping-timeout", "0.3")
    with ws_client.connect(ws_url(server, "/ws")) as ws:  # answers pings by itself
        time.sleep(1.2)
        ws.send("still here")
        assert ws.recv() == "still here"
    with connect(server) as sock:  # a peer that never answers a ping
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101")
        opcode, payload = _ws_frame(sock)
        assert opcode == 0x9 and len(payload) == 4  # the ping
        opcode, payload = _ws_frame(sock)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1011
        assert b"ping timeout" in payload


@needs_websockets
def test_websocket_closed_with_1001_on_graceful_stop(start_server) -> None:
    from websockets.exceptions import ConnectionClosed

    server = start_server("asgi_apps:app", "--workers", "1")
    with ws_client.connect(ws_url(server, "/ws")) as ws:
        ws.send("hi")
        assert ws.recv() == "hi"
        server.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1001
    assert server.wait_exit(15) == 0
