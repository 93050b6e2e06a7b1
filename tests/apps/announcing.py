"""basic.app, plus a stderr line when each request starts, so a test can act
while a request is known to be in flight.

Runs in: worker interpreters.
"""

from __future__ import annotations

import sys

from basic import app as basic_app


def app(environ, start_response):
    print(f"request started: {environ['PATH_INFO']}", file=sys.stderr, flush=True)
    return basic_app(environ, start_response)
