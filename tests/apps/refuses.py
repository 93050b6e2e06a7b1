"""An app whose import pulls in httptools, a C extension that refuses OWN_GIL
subinterpreters ("module httptools.parser.parser does not support loading in
subinterpreters").

Runs in: worker interpreters (where it fails to load, on purpose).
"""

from __future__ import annotations

import httptools  # noqa: F401


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable: httptools cannot load here"]
