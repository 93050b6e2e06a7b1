"""ASGI 3 on one asyncio loop per interpreter: HTTP cycles, WebSockets, lifespan.

Runs in: worker interpreters, on the interpreter's asyncio loop. An I/O
adapter over the sans-I/O ``http`` package; it never imports ``wsgi``.

``loop`` takes items from the queue, ``connections`` serves them and keeps
idle keep-alive connections, ``cycle`` is one HTTP request, ``websocket``
one WebSocket session, both over ``loopsocket``'s borrowed fd.
"""
