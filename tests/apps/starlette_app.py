"""A Starlette app (routes, JSON, streaming, lifespan state). Runs in: worker interpreters."""

from __future__ import annotations

import contextlib
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


@contextlib.asynccontextmanager
async def lifespan(app):
    marker_dir = os.environ.get("ASGI_MARKER_DIR")
    if marker_dir:
        open(os.path.join(marker_dir, f"starlette-startup-{os.getpid()}"), "a").close()
    yield {"db": "connected"}
    if marker_dir:
        open(os.path.join(marker_dir, "starlette-shutdown"), "a").close()


async def homepage(request: Request) -> PlainTextResponse:
    return PlainTextResponse("home")


async def item(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["item_id"], "q": request.query_params.get("q"),
                         "db": request.state.db})


async def echo_json(request: Request) -> JSONResponse:
    return JSONResponse({"got": await request.json()})


async def stream(request: Request) -> StreamingResponse:
    async def numbers():
        for i in range(100):
            yield f"{i}\n"
    return StreamingResponse(numbers(), media_type="text/plain")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_json({"echo": text, "db": websocket.state.db})


app = Starlette(lifespan=lifespan, routes=[
    Route("/", homepage),
    Route("/items/{item_id:int}", item),
    Route("/json", echo_json, methods=["POST"]),
    Route("/stream", stream),
    WebSocketRoute("/ws", ws_echo),
])
