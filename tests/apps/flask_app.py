"""A small Flask app: routes, JSON, a POSTed form, a 404 and an error handler.

Runs in: worker interpreters.
"""

from __future__ import annotations

import _interpreters

from flask import Flask, jsonify, request

app = Flask(__name__)


class OutOfStock(Exception):
    """Raised by a view; turned into a 409 by the error handler below."""


@app.get("/")
def index():
    return "Flask says hello"


@app.get("/square/<int:n>")
def square(n: int):
    return jsonify(n=n, square=n * n, interp=_interpreters.get_current()[0])


@app.post("/order")
def order():
    item = request.form["item"]
    quantity = int(request.form.get("quantity", "1"))
    if item == "unicorn":
        raise OutOfStock(f"no {item} left")
    return jsonify(item=item, quantity=quantity, total=quantity * 3)


@app.errorhandler(OutOfStock)
def out_of_stock(exc: OutOfStock):
    return jsonify(error=str(exc)), 409


@app.errorhandler(404)
def not_found(exc):
    return jsonify(error="not found", path=request.path), 404
