"""Any bench app, plus a route that segfaults and one that hangs in C
(crashable:app, the wrapped app named by CRASHABLE_APP, e.g. hello:app).

Runs in: the server under test (for subserve: each worker interpreter).
bench/recovery.py uses it to time how long subserve takes to answer again.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import time

_module, _, _attr = os.environ.get("CRASHABLE_APP", "hello:app").partition(":")
_inner = getattr(importlib.import_module(_module), _attr)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/__segfault__":
        ctypes.string_at(0)
    if path == "/__sleep__":
        time.sleep(3600)
    return _inner(environ, start_response)
