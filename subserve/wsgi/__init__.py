"""WSGI (PEP 3333) on blocking threads: the handler, environ, input and streams.

Runs in: worker interpreters. An I/O adapter over the sans-I/O ``http``
package; it never imports ``asgi``.
"""
