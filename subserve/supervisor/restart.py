"""Starting the server afresh as another worker kind, keeping its sockets.

Runs in: the main interpreter.

Why a fresh process: when ``auto`` learns that a module refuses an isolated
interpreter, that module's init function has already run once in this
process. CPython can only tell a single-phase extension refuses after calling
its ``PyInit_*``, and many such modules keep process-wide static state from
that call: msgspec, for one, keeps exception types whose instances then no
longer match ``except msgspec.ValidationError`` in the main interpreter, so
Litestar answers a validation error with 500. A worker forked from this
process, or the app imported into this main interpreter, would inherit that
state. ``exec`` starts clean, keeps the pid (a supervisor such as systemd or
Docker sees no change), keeps the blocked signal mask (a SIGTERM that arrives
meanwhile waits for the new image) and keeps the bound listening sockets, so
no connection is refused in between.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from typing import NoReturn

from subserve.config import Config

# The configuration of the fresh image, as JSON: an internal hand-over between
# this process and the image it execs, not a user setting.
CONFIG_ENV = "SUBSERVE_RESTART_CONFIG"


def exec_as(config: Config, kind: str, listeners: list[socket.socket]) -> NoReturn:
    """Replace this process with a server of worker kind ``kind`` on ``listeners``."""
    fds = []
    for sock in listeners:
        os.set_inheritable(sock.fileno(), True)
        fds.append(sock.fileno())
    env = dict(os.environ)
    env[CONFIG_ENV] = handover(config, kind, fds)
    sys.stdout.flush()
    sys.stderr.flush()
    # The interpreter's own -X and -W options, as multiprocessing passes them on.
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    os.execve(sys.executable, [sys.executable, *flags, "-m", __name__], env)


def handover(config: Config, kind: str, fds: list[int]) -> str:
    """``config`` for the fresh image: worker kind ``kind``, serving the
    inherited ``fds`` instead of binding its addresses again."""
    fresh = dataclasses.replace(config, worker_kind=kind, binds=(), fds=tuple(fds))
    return json.dumps(dataclasses.asdict(fresh))


def config_from_environment() -> Config:
    """The configuration ``exec_as`` handed over; removed from the environment
    so that the app and its child processes never see it."""
    return taken_over(os.environ.pop(CONFIG_ENV))


def taken_over(text: str) -> Config:
    """The ``Config`` that ``handover`` wrote."""
    fields = json.loads(text)
    for name in ("binds", "fds"):
        fields[name] = tuple(fields[name])
    return Config(**fields)


def main() -> None:
    from subserve import log
    from subserve.supervisor.server import Server

    config = config_from_environment()
    log.configure(config.log_level, "main")
    sys.exit(Server(config).run())


if __name__ == "__main__":
    main()
