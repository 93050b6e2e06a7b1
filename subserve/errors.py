"""Every exception subserve raises on purpose, and the process's exit codes.

Runs in: main and worker interpreters (plain classes, no imports: the
sans-I/O ``http`` package may use them). The C engine's own exceptions,
``EngineError`` and its ``Queue*`` subclasses, live in ``subserve._engine``.

An exception that carries an HTTP meaning says which status to answer with
(``status_hint``, as h11's errors do), so the code that answers needs no
table of its own.
"""

from __future__ import annotations

# Exit codes of `subserve` (the README quotes them).
EXIT_OK = 0           # a clean stop
EXIT_STOP_FAILED = 1  # a stop that timed out, or every worker died
EXIT_BIND = 2         # an address that cannot be bound
EXIT_APP_LOAD = 3     # the app cannot load in a worker


class BindError(Exception):
    """A --bind address or --fd could not be used; str() says which and why."""


class AppLoadError(Exception):
    """The app could not be imported; str() is the message for the user."""


class LifespanFailed(Exception):
    """ASGI lifespan startup or shutdown failed; str() is the message for the user."""


class BadBody(ValueError):
    """The request body is malformed or ended early: answer 400 and close."""

    status_hint = 400


class BodyTooLarge(BadBody):
    """The request body is longer than --limit-request-body: answer 413 and close."""

    status_hint = 413


class ClientGone(ConnectionError):
    """Reading from or writing to the client failed: it left, reset or stalled."""
