"""The extension modules an interpreter loaded, and which of them refuse isolation.

Runs in: main and worker interpreters (stdlib only).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import sysconfig

from subserve.isolation.refusal import Refusal, is_refusal, refusal_for

# CPython's own extension modules (lib-dynload): under the base installation,
# not the venv, whose platstdlib would also cover its site-packages.
_BASE_PATHS = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
_STDLIB = tuple(os.path.join(_BASE_PATHS[key], "") for key in ("stdlib", "platstdlib"))


def loaded_extensions() -> list[str]:
    """Names of the C extension modules in ``sys.modules`` that come neither
    with CPython itself nor with subserve: the ones an app brings."""
    names = []
    for name, module in list(sys.modules.items()):
        if name.startswith("subserve."):
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or ""
        if (isinstance(getattr(spec, "loader", None), importlib.machinery.ExtensionFileLoader)
                and not origin.startswith(_STDLIB)):
            names.append(name)
    return sorted(names)


def refusals_among(names: list[str]) -> list[Refusal]:
    """Import each module in turn; those that refuse this interpreter."""
    refused = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if is_refusal(exc):  # by the name asked for: CPython's may be a bare one
                refused.append(refusal_for(name))
        except Exception:  # noqa: BLE001, S110 - a module failing otherwise is not a refusal
            pass
    return refused
