"""ASGI 3 HTTP and lifespan against a real server (the units are in tests/unit).

Runs in: the test process (servers run as subprocesses with cwd tests/apps).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time

import httpx
import pytest
from helpers.http import ResponseReader
from helpers.server import connect, raw_request

try:
    import starlette  # noqa: F401

    HAVE_STARLETTE = True
except ImportError:
    HAVE_STARLETTE = False

try:
    from websockets.sync import client as ws_client
except ImportError:
    ws_client = None


def test_scope_over_the_wire(asgi_server) -> None:
    r = httpx.get(asgi_server.url + "/scope/caf%C3%A9?a=1&b=%2F", headers={"X-Dup": "1"})
    scope = r.json()
    assert r.status_code == 200
    assert scope["type"] == "http" and scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["path"] == "/scope/café" and scope["raw_path"] == "/scope/caf%C3%A9"
    assert scope["query_string"] == "a=1&b=%2F"
    assert scope["http_version"] == "1.1" and scope["method"] == "GET" and scope["scheme"] == "http"
    assert scope["server"] == ["127.0.0.1", asgi_server.port]
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert ["x-dup", "1"] in scope["headers"] and scope["header_types"] == ["bytes"]
    assert scope["root_path"] == ""
    # the lifespan state of this very interpreter, copied into the request
    assert scope["state"] == {"greeting": "hello from lifespan", "interp": scope["interp"]}
    assert r.headers["server"] == "subserve" and "date" in r.headers


def test_request_body_streams_content_length_and_chunked(asgi_server) -> None:
    import hashlib

    body = os.urandom(3 * 1024 * 1024 + 17)
    r = httpx.post(asgi_server.url + "/echo", content=body, timeout=30)
    assert r.content == body and r.headers["x-sha256"] == hashlib.sha256(body).hexdigest()
    assert int(r.headers["x-events"]) > 1  # delivered as several http.request events

    def chunks():
        for i in range(0, len(body), 100_000):
            yield body[i:i + 100_000]

    r = httpx.post(asgi_server.url + "/echo", content=chunks(), timeout=30)
    assert r.content == body and int(r.headers["x-events"]) > 1


def test_streaming_response_and_http10(asgi_server) -> None:
    r = httpx.get(asgi_server.url + "/stream?7")
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "".join(f"part {i}\n" for i in range(7))
    raw = raw_request(asgi_server.port, b"GET /stream?3 HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" not in head and b"Connection: close" in head
    assert body == b"part 0\npart 1\npart 2\n"


def test_head_has_headers_and_no_body(asgi_server) -> None:
    with connect(asgi_server) as sock:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"Hello, world!"):
            data += sock.recv(65536)
    first, second, third = data.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert b"Content-Length: 13\r\n" in first and first.endswith(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in second and second.endswith(b"\r\n\r\n")
    assert third.endswith(b"\r\n\r\nHello, world!")


def test_keep_alive_and_pipelining(asgi_server) -> None:
    with connect(asgi_server) as sock:
        reqs = b"".join(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nbody%d" % i
                        for i in range(5))
        sock.sendall(reqs + b"GET /stream?2 HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = ResponseReader(sock)
        for i in range(5):
            r = reader.read("POST")
            assert (r.version, r.status, r.reason) == ("HTTP/1.1", 200, "OK") and r.body == b"body%d" % i
            assert "connection" not in r.headers
        r = reader.read()
        assert r.body == b"part 0\npart 1\n" and reader.pending == b""
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # same connection, later
        assert reader.read().body == b"Hello, world!"


def test_response_trailers(asgi_server) -> None:
    with connect(asgi_server) as sock:
        sock.sendall(b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n") or b"0\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
        assert body == b"4\r\ndata\r\n0\r\nx-checksum: abc\r\nx-count: 1\r\n\r\n"
        sock.sendall(b"GET /trailers?skip HTTP/1.1\r\nHost: x\r\n\r\n")  # same connection
        reader = ResponseReader(sock)
        r = reader.read()
        assert (r.version, r.status, r.reason, r.body, reader.pending) == (
            "HTTP/1.1", 200, "OK", b"data", b"")
    # HTTP/1.0 has no chunked framing to carry them: dropped
    raw = raw_request(asgi_server.port, b"GET /trailers HTTP/1.0\r\n\r\n")
    assert raw.endswith(b"\r\n\r\ndata") and b"x-checksum: abc" not in raw
    assert httpx.get(asgi_server.url + "/scope").json()["extensions"] == {
        "http.response.trailers": {}}


def test_app_errors(asgi_server) -> None:
    with connect(asgi_server) as sock:
        sock.sendall(b"GET /error HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = ResponseReader(sock)
        r = reader.read()
        assert (r.version, r.status, r.reason) == ("HTTP/1.1", 500, "Internal Server Error")
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")  # still kept alive
        assert reader.read().body == b"Hello, world!"
    raw = raw_request(asgi_server.port, b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK") and b"partial" in raw
    assert not raw.endswith(b"0\r\n\r\n")  # cut short: no last chunk, then closed
    assert httpx.get(asgi_server.url + "/hello").text == "Hello, world!"
    asgi_server.wait_for_log("boom before the response")
    asgi_server.wait_for_log("boom after the response started")


def test_expect_continue(asgi_server) -> None:
    with connect(asgi_server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abcd")
        assert ResponseReader(sock).read("POST").body == b"abcd"


def test_disconnect_reaches_the_app(asgi_server, tmp_path) -> None:
    with connect(asgi_server) as sock:
        sock.sendall(b"GET /disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
    marker = tmp_path / "disconnect"
    for _ in range(100):
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.05)
    assert marker.read_text() == "http.disconnect"


def test_lifespan_startup_and_shutdown(start_server, tmp_path, worker_kind) -> None:
    server = start_server("asgi_apps:app", "--workers", "2", env={"ASGI_MARKER_DIR": str(tmp_path)})
    # one lifespan per copy of the app: per interpreter, or per process; before serving
    copies = 1 if worker_kind == "thread" else 2
    assert len(list(tmp_path.glob("startup-*"))) == copies
    assert not list(tmp_path.glob("shutdown-*"))
    assert server.stop() == 0
    assert len(list(tmp_path.glob("shutdown-*"))) == copies


def test_lifespan_startup_failure(start_server) -> None:
    server = start_server("asgi_apps:app", ready=False, env={"ASGI_STARTUP_FAIL": "1"})
    assert server.wait_exit(30) != 0
    assert "database unreachable (test)" in server.log()


def test_lifespan_auto_off_and_on(start_server) -> None:
    server = start_server("asgi_apps:no_lifespan", "--workers", "1")
    assert httpx.get(server.url + "/").text == "ok"
    server = start_server("asgi_apps:app", "--workers", "1", "--lifespan", "off")
    assert httpx.get(server.url + "/scope").json()["state"] == {}
    server = start_server("asgi_apps:no_lifespan", "--lifespan", "on", ready=False)
    assert server.wait_exit(30) != 0
    assert "no lifespan here" in server.log()


def test_asgi2_and_forced_interface(start_server) -> None:
    server = start_server("asgi_apps:ASGI2App", "--workers", "1")
    assert httpx.get(server.url + "/").text == "asgi2"
    server = start_server("basic:app", "--workers", "1", "--interface", "wsgi")
    assert httpx.get(server.url + "/hello").text == "Hello, world!"


@pytest.mark.skipif(not HAVE_STARLETTE, reason="starlette is not installed")
def test_starlette_app(start_server, tmp_path, worker_kind) -> None:
    server = start_server("starlette_app:app", "--workers", "2",
                          env={"ASGI_MARKER_DIR": str(tmp_path)})
    # one file per process: two interpreters share one, two processes do not
    assert len(list(tmp_path.glob("starlette-startup-*"))) == (2 if worker_kind == "process" else 1)
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/").text == "home"
        assert client.get("/items/7", params={"q": "z"}).json() == {"id": 7, "q": "z", "db": "connected"}
        assert client.get("/items/x").status_code == 404
        assert client.post("/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}
        r = client.get("/stream")
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.text == "".join(f"{i}\n" for i in range(100))
    if ws_client is not None:
        with ws_client.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            ws.send("hi")
            assert json.loads(ws.recv()) == {"echo": "hi", "db": "connected"}
    assert server.stop() == 0
    assert (tmp_path / "starlette-shutdown").exists()


def test_100_slow_requests_overlap_on_one_interpreter(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--no-access-log")

    async def fetch_all() -> list[dict]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            responses = await asyncio.gather(*(client.get("/slow?0.5") for _ in range(100)))
        return [r.json() for r in responses]

    stamps = asyncio.run(fetch_all())
    assert len({s["interp"] for s in stamps}) == 1
    # every request started before any finished: all 100 were in flight at once
    assert max(s["start"] for s in stamps) < min(s["end"] for s in stamps)


def test_slow_reader_does_not_grow_server_memory(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--no-access-log")
    size = 50 * 1024 * 1024
    httpx.get(server.url + "/big?1000000")  # warm up
    before = server.rss_kib()  # the serving process's, not only the supervisor's
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET /big?%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        received, peak = 0, before
        deadline = time.monotonic() + 20
        while received < size + 100 and time.monotonic() < deadline:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += len(chunk)
            if received < 2 * 1024 * 1024:
                time.sleep(0.05)  # slow at first: the app must wait for us
            peak = max(peak, server.rss_kib())
    assert received > size
    assert peak - before < 30 * 1024, f"server RSS grew by {(peak - before) // 1024} MiB"


def test_graceful_stop_finishes_in_flight_request(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1")
    with connect(server) as sock:
        sock.sendall(b"GET /slow?0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        server.signal(signal.SIGTERM)
        r = ResponseReader(sock).read()
        assert (r.version, r.status, r.reason) == ("HTTP/1.1", 200, "OK")
        assert r.headers.get("connection") == "close"
        assert json.loads(r.body)["end"] > 0
    assert server.wait_exit(30) == 0


def test_stop_cancels_requests_past_the_graceful_timeout(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--graceful-timeout", "0.5")
    with connect(server) as sock:
        sock.sendall(b"GET /slow?60 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        assert server.wait_exit(15) in (0, 1)  # 1: a request was still running
        assert sock.recv(100) == b""  # dropped, not left hanging
    assert "cancelling 1 request(s)" in server.log()


def test_stalled_request_body_times_out(start_server) -> None:
    server = start_server("asgi_apps:app", "--workers", "1", "--client-timeout", "0.5")
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        start = time.monotonic()
        assert sock.recv(100) == b""  # the server gave up on the stalled body
        assert time.monotonic() - start < 5
    assert httpx.get(server.url + "/hello").text == "Hello, world!"
