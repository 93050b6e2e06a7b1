"""A small Flask app: one route rendering a Jinja template (flask_app:app).

Runs in: the server under test (for subserve: each worker interpreter).

Measures what a framework adds per request (routing, request and response
objects, template rendering) on top of the server.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template

TITLE = "Flask page"
ITEMS = [{"name": f"item {i}", "price": f"{i * 1.25:.2f}"} for i in range(20)]

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))


@app.route("/")
def page() -> str:
    return render_template("page.html", title=TITLE, items=ITEMS, footer="<rendered by Jinja>")
