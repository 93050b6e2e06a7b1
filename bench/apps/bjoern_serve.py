"""Launch bjoern on one WSGI app, in N forked processes: bjoern has no CLI of its own.

Runs in: the server under test (bjoern processes started by bench/run.py).

bjoern serves on a single thread, so N "workers" are N processes forked after
the listening socket is bound: they share it and the kernel spreads the
connections among them, as gunicorn's pre-fork model does.

Usage: python bench/apps/bjoern_serve.py MODULE:ATTR HOST PORT [WORKERS]
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys


def load(target: str) -> object:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr or "app")


def fork_workers(count: int) -> list[int]:
    """Fork `count` children that serve; returns their pids (in the parent)."""
    import bjoern

    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            bjoern.run()
            os._exit(0)
        children.append(pid)
    return children


def supervise(children: list[int]) -> None:
    """Forward SIGTERM/SIGINT to the children and wait for all of them."""

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def main(argv: list[str]) -> None:
    target, host, port = argv[:3]
    workers = int(argv[3]) if len(argv) > 3 else 1
    # Run as a script, sys.path[0] is bench/apps: the apps import as hello, cpu.
    import bjoern  # imported late: a missing bjoern fails here, with a clear traceback

    app = load(target)
    if workers == 1:
        bjoern.run(app, host, int(port))
        return
    # Bind once in the parent, then fork: every child accepts on that socket.
    bjoern.listen(app, host, int(port))
    supervise(fork_workers(workers))


if __name__ == "__main__":
    main(sys.argv[1:])
