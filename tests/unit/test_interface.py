"""Telling WSGI, ASGI 2 and ASGI 3 apps apart, and the ASGI 2 adapter.

Runs in: the test process.
"""

from __future__ import annotations

import asyncio

import pytest

from subserve.worker.interface import ASGI2, ASGI3, WSGI, as_asgi3, detect


def test_detect_interface() -> None:
    async def asgi3(scope, receive, send): ...

    class ASGI3Obj:
        async def __call__(self, scope, receive, send): ...

    class ASGI2Cls:
        def __init__(self, scope): ...
        async def __call__(self, receive, send): ...

    def wsgi(environ, start_response): ...

    assert detect(asgi3) == ASGI3 and detect(ASGI3Obj()) == ASGI3
    assert detect(ASGI2Cls) == ASGI2 and detect(lambda scope: None) == ASGI2
    assert detect(wsgi) == WSGI and detect(asgi3, "wsgi") == WSGI
    assert as_asgi3(asgi3, ASGI3) is asgi3
    with pytest.raises(ValueError):
        detect(wsgi, "bogus")


def test_asgi2_adapter() -> None:
    sent = []

    class App:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            await send(self.scope["type"])

    async def send(message):
        sent.append(message)

    asyncio.run(as_asgi3(App, ASGI2)({"type": "http"}, None, send))
    assert sent == ["http"]
