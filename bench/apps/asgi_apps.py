"""ASGI counterparts of hello.py and sleep.py (asgi_apps:hello, asgi_apps:sleep).

Runs in: the server under test (for subserve: each worker interpreter).

Kept apart from the WSGI apps because it imports them as top-level modules
(hello, sleep), which only works with bench/apps on sys.path, as the servers
have it; the driver never imports this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import hello as _hello
import sleep as _sleep

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def _lifespan(receive: Receive, send: Send) -> None:
    # Answer startup and shutdown, so that no server logs "lifespan
    # unsupported" or waits on it: the apps have nothing to set up.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def hello(scope: dict, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await _respond(send, _hello.BODY)


async def sleep(scope: dict, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await asyncio.sleep(_sleep.SECONDS)
        await _respond(send, _sleep.BODY)
