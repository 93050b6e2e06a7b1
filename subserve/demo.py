"""The bundled demo app: says which interpreter of which process answered.

Runs in: worker interpreters. `make run` serves it.
"""

from __future__ import annotations

import _interpreters
import os
import threading
from collections.abc import Callable, Iterable

# Module state is per interpreter: each worker counts its own requests.
served = 0


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    global served
    served += 1
    interp_id = _interpreters.get_current()[0]
    body = (
        f"Hello from subserve!\n"
        f"interpreter {interp_id} of process {os.getpid()}, "
        f"thread {threading.get_native_id()}\n"
        f"this interpreter has served {served} request(s)\n"
        f"you asked for {environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
