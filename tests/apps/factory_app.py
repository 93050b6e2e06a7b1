"""An app built by a factory function (served with --factory).

Runs in: worker interpreters.
"""

from __future__ import annotations

from collections.abc import Callable


def create_app() -> Callable:
    greeting = b"made by create_app"

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(greeting)))])
        return [greeting]

    return app
