"""HTTP/1.1 without I/O: wire pieces, request targets, body decoding, response heads.

Runs in: worker interpreters (and tests), but depends on neither: no
socket, no asyncio, no ``subserve._engine``. Bytes and strings go in, bytes
and decisions come out, in the manner of h11; WSGI and ASGI are two I/O
adapters over it.
"""
