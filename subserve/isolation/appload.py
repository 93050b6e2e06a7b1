"""Import the user's app by its ``module:attribute`` string, and explain failures.

Runs in: worker interpreters, and the main interpreter for ``subserve check``
(stdlib only).

Many C extensions still refuse OWN_GIL subinterpreters; CPython then raises
``ImportError: module X does not support loading in subinterpreters``. That
error is turned into one message naming the module, the distribution that
ships it, and what to do, instead of a traceback per worker.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from typing import Any

from subserve.errors import AppLoadError
from subserve.isolation.refusal import find_refusal, is_refusal


def load_app(spec: str, factory: bool = False) -> Callable[..., Any]:
    """Import ``module:attribute`` (attribute may be dotted) and return the app."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AppLoadError(f"app must be given as 'module:attribute', not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name and not is_refusal(exc):
            raise AppLoadError(f"could not import module {module_name!r}: {exc}") from exc
        raise
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        app = app()
    if not callable(app):
        raise AppLoadError(f"{spec} is not callable (got {type(app).__name__})")
    return app


def describe_load_error(spec: str, exc: BaseException) -> str:
    """One message for the user: what refused, and what to do about it."""
    refusal = find_refusal(exc)
    if refusal is not None:
        package = refusal.distribution or f"the package that provides {refusal.module}"
        return (
            f"{refusal} does not support subinterpreters, so {spec} cannot run in an "
            "OWN_GIL worker interpreter.\n"
            "  What to do: serve it with --worker-kind auto (the default: processes, or "
            "threads on a free-threaded build) or --worker-kind process; or upgrade "
            f"{package} to a release that supports a per-interpreter GIL "
            "(Py_MOD_PER_INTERPRETER_GIL_SUPPORTED); or remove it from the app's imports."
        )
    if isinstance(exc, AppLoadError):
        return str(exc)
    detail = "".join(traceback.format_exception(exc)).rstrip()
    return f"{spec} failed to load in a worker interpreter:\n{detail}"
