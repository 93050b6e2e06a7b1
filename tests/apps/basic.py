"""Small WSGI apps the integration tests serve. Runs in: worker interpreters."""

from __future__ import annotations

import _interpreters
import hashlib
import json
import os
import threading
import time

counter = 0  # module state: one per interpreter


def _json(start_response, data, status="200 OK"):
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    global counter
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, world!"]
    if path == "/whoami":
        counter += 1
        return _json(start_response, {
            "interp": _interpreters.get_current()[0], "pid": os.getpid(),
            "counter": counter, "thread": threading.get_native_id(),
        })
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("X-Sha256", hashlib.sha256(body).hexdigest())])
        return [body]
    if path == "/recorded-echo":
        # each call leaves a line in RECORD_FILE before the body is read
        with open(os.environ["RECORD_FILE"], "a") as f:
            f.write(environ["REQUEST_METHOD"] + "\n")
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("X-Sha256", hashlib.sha256(body).hexdigest())])
        return [body]
    if path == "/environ":
        keys = {k: v for k, v in environ.items() if isinstance(v, str)}
        return _json(start_response, keys)
    if path == "/big":
        size = int(environ.get("QUERY_STRING") or 5 * 1024 * 1024)
        block = b"x" * 65536

        def gen():
            left = size
            while left > 0:
                yield block[: min(left, len(block))]
                left -= len(block)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"chunk {i}\n".encode() for i in range(5))
    if path == "/raise":
        raise RuntimeError("the app failed on purpose")
    if path == "/raise-late":
        def late():
            yield b"partial"
            raise RuntimeError("failed after the headers")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return late()
    if path == "/sleep":
        started = time.time()
        time.sleep(float(environ.get("QUERY_STRING") or 1))
        return _json(start_response, {"start": started, "end": time.time(),
                                      "interp": _interpreters.get_current()[0]})
    if path == "/cpu":
        started = time.time()
        n = int(environ.get("QUERY_STRING") or 3_000_000)
        total = 0
        for i in range(n):
            total += i * i % 7
        return _json(start_response, {"start": started, "end": time.time(), "total": total,
                                      "interp": _interpreters.get_current()[0], "pid": os.getpid()})
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]
