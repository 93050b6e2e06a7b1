"""Launch bjoern on one WSGI app: bjoern has no CLI of its own.

Runs in: the server under test (a single-threaded bjoern process started by
bench/run.py).

Usage: python bench/apps/bjoern_serve.py MODULE:ATTR HOST PORT
"""

from __future__ import annotations

import importlib
import sys


def load(target: str) -> object:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr or "app")


def main(argv: list[str]) -> None:
    target, host, port = argv
    # Run as a script, sys.path[0] is bench/apps: the apps import as hello, cpu.
    import bjoern  # imported late: a missing bjoern fails here, with a clear traceback

    bjoern.run(load(target), host, int(port))


if __name__ == "__main__":
    main(sys.argv[1:])
