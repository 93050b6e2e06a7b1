"""ASGI apps the integration tests serve. Runs in: worker interpreters.

Marker files for lifespan tests are named by environment variables the
tests set (ASGI_MARKER_DIR, ASGI_STARTUP_FAIL).
"""

from __future__ import annotations

import _interpreters
import asyncio
import hashlib
import json
import os
import time


async def _json(send, data, status=200, headers=()):
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive):
    chunks, events = [], 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        chunks.append(message["body"])
        events += 1
        if not message.get("more_body"):
            return b"".join(chunks), events


async def app(scope, receive, send):
    """ASGI 3 app with one route per behaviour under test."""
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    path = scope["path"]
    if path == "/hello":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Hello, world!"})
    elif path.startswith("/scope"):
        out = {k: v for k, v in scope.items() if k not in ("headers", "raw_path", "query_string", "state")}
        out["raw_path"] = scope["raw_path"].decode("latin-1")
        out["query_string"] = scope["query_string"].decode("latin-1")
        out["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        out["state"] = {k: v for k, v in scope["state"].items() if isinstance(v, (str, int))}
        out["header_types"] = sorted({type(x).__name__ for pair in scope["headers"] for x in pair})
        out["interp"] = _interpreters.get_current()[0]
        await _json(send, out)
    elif path == "/echo":
        body, events = await _read_body(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-sha256", hashlib.sha256(body).hexdigest().encode()),
                                (b"x-events", str(events).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/recorded-echo":
        # each call leaves a line in RECORD_FILE before the body is read
        with open(os.environ["RECORD_FILE"], "a") as f:
            f.write(scope["method"] + "\n")
        body, _events = await _read_body(receive)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-sha256", hashlib.sha256(body).hexdigest().encode())]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/stream":
        count = int(scope["query_string"] or 5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(count):
            await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/big":
        size = int(scope["query_string"] or 1 << 20)
        block = b"x" * 65536
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode())]})
        left = size
        while left > 0:
            n = min(left, len(block))
            left -= n
            await send({"type": "http.response.body", "body": block[:n], "more_body": left > 0})
    elif path == "/slow":
        start = time.time()
        await asyncio.sleep(float(scope["query_string"] or 0.5))
        await _json(send, {"start": start, "end": time.time(), "interp": _interpreters.get_current()[0]})
    elif path == "/error":
        raise RuntimeError("boom before the response")
    elif path == "/error-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the response started")
    elif path == "/trailers":
        # ?skip: announce trailers and never send them
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"trailer", b"x-checksum, x-count")]})
        await send({"type": "http.response.body", "body": b"data"})
        if scope["query_string"] != b"skip":
            await send({"type": "http.response.trailers", "more_trailers": True,
                        "headers": [(b"x-checksum", b"abc")]})
            await send({"type": "http.response.trailers", "headers": [(b"x-count", b"1")]})
    elif path == "/disconnect":
        await _read_body(receive)
        message = await receive()  # returns once the client goes away
        with open(os.path.join(os.environ["ASGI_MARKER_DIR"], "disconnect"), "w") as f:
            f.write(message["type"])
    else:
        await _json(send, {"error": "not found"}, status=404)


async def websocket(scope, receive, send):
    """WebSocket routes: /ws echoes ("close:CODE" closes), /ws-reject refuses,
    /ws-error raises before accepting, /ws-stamp accepts then waits for the stop."""
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/ws-reject":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/ws-error":
        raise RuntimeError("boom before accept")
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-ws", b"yes")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            marker_dir = os.environ.get("ASGI_MARKER_DIR")
            if marker_dir:
                with open(os.path.join(marker_dir, "ws-disconnect"), "w") as f:
                    f.write(str(message["code"]))
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            await send({"type": "websocket.close", "code": int(text[6:]), "reason": "asked"})
            return
        if text == "scope":
            await send({"type": "websocket.send", "text": json.dumps(
                {"type": scope["type"], "scheme": scope["scheme"], "path": scope["path"],
                 "subprotocols": scope["subprotocols"], "has_method": "method" in scope})})
        elif text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def lifespan(scope, receive, send):
    marker_dir = os.environ.get("ASGI_MARKER_DIR")
    interp = _interpreters.get_current()[0]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("ASGI_STARTUP_FAIL"):
                await send({"type": "lifespan.startup.failed",
                            "message": "database unreachable (test)"})
                return
            scope["state"]["greeting"] = "hello from lifespan"
            scope["state"]["interp"] = interp
            if marker_dir:
                open(os.path.join(marker_dir, f"startup-{os.getpid()}-{interp}"), "w").close()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if marker_dir:
                open(os.path.join(marker_dir, f"shutdown-{os.getpid()}-{interp}"), "w").close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def no_lifespan(scope, receive, send):
    """An app that refuses the lifespan scope (auto mode must still serve it)."""
    assert scope["type"] == "http", "no lifespan here"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


class ASGI2App:
    """ASGI 2 double callable: built with the scope, then awaited."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            raise RuntimeError("no lifespan")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2"})
