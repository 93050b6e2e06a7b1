"""The supervisor: listening sockets, the engine and pool, signals, stopping.

Runs in: the main interpreter only. Nothing here imports worker code
(``worker``, ``wsgi``, ``asgi``): workers are started from a program text
(``handoff.settings``) and reached through the C engine's ids.
"""
