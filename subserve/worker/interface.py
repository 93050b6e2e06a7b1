"""Tell WSGI apps from ASGI apps, and adapt ASGI 2 apps to ASGI 3.

Runs in: worker interpreters (pure functions, also tested in main).

``--interface auto`` decides from the callable itself:

- an async callable (function, or object with an async ``__call__``) is
  ASGI 3: ``await app(scope, receive, send)``;
- a class whose instances have an async ``__call__``, or a plain callable
  taking exactly one positional argument, is ASGI 2: ``app(scope)`` returns
  the coroutine-returning instance;
- anything else is WSGI.

``--interface wsgi`` or ``asgi`` skips the guess (``asgi`` still tells ASGI
3 from ASGI 2 the same way).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

CHOICES = ("auto", "wsgi", "asgi")
WSGI, ASGI2, ASGI3 = "wsgi", "asgi2", "asgi3"


def detect(app: Callable[..., Any], forced: str = "auto") -> str:
    """``"wsgi"``, ``"asgi2"`` or ``"asgi3"`` for ``app`` under ``--interface forced``."""
    if forced not in CHOICES:
        raise ValueError(f"interface must be one of {CHOICES}, not {forced!r}")
    if forced == WSGI:
        return WSGI
    if _is_async_callable(app):
        return ASGI3
    if _is_asgi2(app) or forced == "asgi":
        return ASGI2
    return WSGI


def as_asgi3(app: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """The ASGI 3 callable for an app ``detect`` called ``kind``."""
    if kind == ASGI3:
        return app
    if kind != ASGI2:
        raise ValueError(f"{kind} is not an ASGI interface")

    async def asgi2_adapter(scope: dict[str, Any], receive: Any, send: Any) -> None:
        instance = app(scope)
        await instance(receive, send)

    return asgi2_adapter


def _is_async_callable(app: Any) -> bool:
    if inspect.isclass(app):
        return False  # calling a class builds an instance, never awaits
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 - the attribute itself is wanted
    return call is not None and inspect.iscoroutinefunction(call)


def _is_asgi2(app: Any) -> bool:
    if inspect.isclass(app):
        return inspect.iscoroutinefunction(getattr(app, "__call__", None))  # noqa: B004
    return _positional_count(app) == 1


def _positional_count(app: Any) -> int | None:
    """How many positional arguments ``app`` takes, None if unknown or open-ended."""
    try:
        params = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for param in params:
        if param.kind == param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count
