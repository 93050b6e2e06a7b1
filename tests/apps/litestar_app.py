"""A Litestar app: msgspec refuses OWN_GIL subinterpreters, so subserve's auto
worker kind serves it in processes.

Runs in: the server under test (the process or thread kind).
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar, get, post


@dataclass
class Order:
    item: str
    quantity: int


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "litestar"}


@post("/orders")
async def order(data: Order) -> dict[str, object]:
    return {"item": data.item, "quantity": data.quantity, "total": data.quantity * 3}


app = Litestar([hello, order])
