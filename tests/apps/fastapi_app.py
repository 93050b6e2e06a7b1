"""A FastAPI app: pydantic-core refuses OWN_GIL subinterpreters, so subserve's
auto worker kind serves it in processes.

Runs in: the server under test (the process or thread kind).
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


class Order(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = Field(gt=0)


@app.get("/")
async def hello() -> dict:
    return {"hello": "fastapi", "pid": os.getpid()}


@app.post("/orders")
async def order(order: Order) -> dict:
    return {"item": order.item, "quantity": order.quantity, "total": order.quantity * 3}
