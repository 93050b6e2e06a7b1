"""A FastAPI app: one route returning a small JSON object through a pydantic model (fastapi_app:app).

Runs in: the server under test (for subserve in auto mode: each forked worker
process, since pydantic-core refuses an OWN_GIL subinterpreter and auto falls
back to the process kind).

Measures what FastAPI adds per request (Starlette routing, dependency
resolution, response-model validation and JSON serialisation) on top of an
ASGI server.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

MESSAGE = "Hello, world!"


class Greeting(BaseModel):
    message: str
    count: int
    tags: list[str]


_GREETING = Greeting(message=MESSAGE, count=3, tags=["fast", "api"])

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/", response_model=Greeting)
async def hello() -> Greeting:
    return _GREETING
