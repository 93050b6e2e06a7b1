"""Read a refusal out of an ImportError, and name the distribution behind it.

Runs in: main and worker interpreters (stdlib only).

CPython refuses a single-phase-init extension (or one without
``Py_MOD_PER_INTERPRETER_GIL_SUPPORTED``) in an isolated interpreter with
``ImportError: module X does not support loading in subinterpreters``,
where X is the name in the module's own definition: sometimes the import
path (``pydantic_core._pydantic_core``), sometimes a bare internal name
(``_core`` for msgspec). A user needs the distribution to upgrade or drop,
so the bare name is resolved against the package whose import failed (the
innermost frame of the traceback), and the package mapped to its
distribution with ``importlib.metadata``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import re
from dataclasses import dataclass
from functools import cache

_REFUSAL = re.compile(r"module (?P<name>[\w.]+) does not support loading in subinterpreters")


@dataclass(frozen=True)
class Refusal:
    """One extension module that refused an isolated interpreter."""

    module: str                  # its import path, e.g. "msgspec._core"
    distribution: str | None     # the distribution that ships it, e.g. "msgspec"
    version: str | None

    def __str__(self) -> str:
        if self.distribution is None:
            return f"module {self.module}"
        version = f" {self.version}" if self.version else ""
        return f"{self.distribution}{version} (module {self.module})"


def is_refusal(exc: BaseException) -> bool:
    return isinstance(exc, ImportError) and _REFUSAL.search(str(exc)) is not None


def find_refusal(exc: BaseException | None) -> Refusal | None:
    """The refusal behind ``exc`` (itself or anything in its cause/context chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if is_refusal(exc):
            return refusal_of(exc)  # type: ignore[arg-type]
        exc = exc.__cause__ or exc.__context__
    return None


def refusal_of(exc: ImportError) -> Refusal:
    """The refusal an ImportError reports (``is_refusal(exc)`` must hold)."""
    match = _REFUSAL.search(str(exc))
    assert match is not None
    return refusal_for(_import_path(match.group("name"), _importing_package(exc)))


def refusal_for(module: str) -> Refusal:
    """The refusal of the module imported as ``module``, with its distribution."""
    dist = distribution_of(module)
    return Refusal(module, dist, _version(dist))


def _importing_package(exc: BaseException) -> tuple[str, list[str]] | None:
    """(name, __path__) of the package whose code ran the failed import: the
    innermost Python frame's, importlib's own frames aside."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        f_globals = tb.tb_frame.f_globals
        name = f_globals.get("__name__", "")
        if not name.startswith(("importlib", "_frozen_importlib")) and name != "__main__":
            package = f_globals.get("__package__") or name.rpartition(".")[0]
            path = f_globals.get("__path__") if package == name else None
            found = (package, list(path or []))
        tb = tb.tb_next
    return found


def _import_path(name: str, package: tuple[str, list[str]] | None) -> str:
    """A bare definition name (``_core``) made into its import path when the
    importing package has such a submodule; else the name as given. The
    package is looked up by its path, not imported: its import just failed."""
    if "." in name or not package or not package[0]:
        return name
    package_name, path = package
    candidate = f"{package_name}.{name}"
    spec = importlib.machinery.PathFinder.find_spec(candidate, path) if path else None
    return candidate if spec is not None else name


@cache
def _top_level_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution_of(module: str) -> str | None:
    """The installed distribution providing ``module``, if one does."""
    names = _top_level_distributions().get(module.partition(".")[0])
    return names[0] if names else None


def _version(distribution: str | None) -> str | None:
    if distribution is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
