"""How to start each server under test for a scenario and a worker count.

Runs in: the benchmark driver (outside the server).

A "worker" is whatever unit each server scales by: an OWN_GIL interpreter for
subserve (its default auto kind; a forked process for an app that refuses
interpreters), a process for subserve-process and the others. subserve-thread
has one copy of the app in the main interpreter, so there a worker is a share
of threads: N workers run N x --server-threads threads in one process, the
same concurrency as the others and one GIL. Thread-pooled WSGI servers all get
the same threads per worker (--server-threads), so the I/O-bound scenario
compares equal concurrency.

The subserve variants are opt-in: they run only in the scenarios that list
them (Scenario.variants), or wherever --servers names them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import HOST
from bench.scenarios import Scenario

HERE = Path(__file__).resolve().parent
# The servers import the apps as top-level modules (hello:app) from this
# directory, and run in it. Not from the repo root: that would put the repo's
# subserve/ package ahead of the installed one on the workers' sys.path.
APPS = HERE / "apps"


@dataclass(frozen=True)
class Launch:
    """One server start: what to serve, how wide, where."""

    scenario: Scenario
    workers: int
    threads: int  # per worker, for thread-pooled WSGI servers
    connections: int  # wrk's, for servers that cap their clients
    port: int
    scratch: Path  # a private directory (mod_wsgi-express's server root)


@dataclass(frozen=True)
class Peer:
    name: str  # what --servers matches and the tables show
    interfaces: tuple[str, ...]
    argv: Callable[[Launch], list[str]]
    skip: str | None = None  # why it cannot run (not installed)
    variant: bool = False  # runs only where a scenario lists it, or --servers names it
    # The worker kind the server says it runs, read from its log (subserve's).
    kind_from_log: Callable[[str], str] | None = None


def read_peer_status(venv: Path) -> dict[str, tuple[str, str]]:
    """bench/install.sh's record: name -> (ok|skipped, version or reason)."""
    status: dict[str, tuple[str, str]] = {}
    try:
        lines = (venv / "peers.tsv").read_text().splitlines()
    except OSError:
        return status
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            status[parts[0]] = (parts[1], parts[2])
    return status


def _skip_reason(package: str, executable: Path, status: dict[str, tuple[str, str]]) -> str | None:
    state, detail = status.get(package, ("", ""))
    if state == "skipped":
        return f"not installed: {detail}"
    if not executable.exists():
        return f"not installed ({executable.name} missing; run bench/install.sh)"
    return None


def _subserve(exe: Path, kind: str | None = None) -> Callable[[Launch], list[str]]:
    """subserve's command line; `kind` is its --worker-kind (None: its default, auto)."""

    def argv(launch: Launch) -> list[str]:
        args = [str(exe), launch.scenario.target, "--bind", f"{HOST}:{launch.port}"]
        threads = launch.threads
        if kind == "thread":
            # --workers is not used by this kind: one interpreter holds every thread.
            threads *= launch.workers
        else:
            args += ["--workers", str(launch.workers)]
        if kind:
            args += ["--worker-kind", kind]
        args += ["--no-access-log", "--app-dir", str(APPS)]
        if launch.scenario.interface == "asgi":
            return [*args, "--interface", "asgi"]
        return [*args, "--interface", "wsgi", "--threads", str(threads)]

    return argv


# subserve's log lines that say what it serves with (subserve/supervisor/):
# "[WARNING] X does not support subinterpreters: serving APP with worker kind
# 'process' instead (...)" when auto falls back, then one of "2 interpreters
# ready ...", "the main interpreter (worker kind thread: ...) ready ..." and
# "2 worker processes ready (worker kind process, ...)".
_FALLBACK = re.compile(r"\[WARNING\] (.+?) does not support subinterpreters: ")
_INTERPRETERS = re.compile(r"\d+ interpreters? ready")
_KIND = re.compile(r"worker kind (\w+)[:,]")


def subserve_kind(log: str) -> str:
    """The worker kind subserve's log says it served with, and why when auto fell back."""
    named = _KIND.search(log)
    kind = named.group(1) if named else "interpreter" if _INTERPRETERS.search(log) else "?"
    fallback = _FALLBACK.search(log)
    if fallback:
        return f"{kind} (auto fell back: {fallback.group(1)} does not support subinterpreters)"
    return kind


def _gunicorn(exe: Path) -> Callable[[Launch], list[str]]:
    def argv(launch: Launch) -> list[str]:
        return [
            *(str(exe), "-w", str(launch.workers), "-k", "gthread"),
            *("--threads", str(launch.threads), "-b", f"{HOST}:{launch.port}"),
            *("--chdir", str(APPS), "--log-level", "warning", launch.scenario.target),
        ]

    return argv


def _uvicorn(exe: Path) -> Callable[[Launch], list[str]]:
    def argv(launch: Launch) -> list[str]:
        return [
            *(str(exe), launch.scenario.target, "--host", HOST, "--port", str(launch.port)),
            *("--workers", str(launch.workers), "--http", "httptools", "--loop", "uvloop"),
            *("--no-access-log", "--log-level", "warning", "--app-dir", str(APPS)),
        ]

    return argv


def _granian(exe: Path) -> Callable[[Launch], list[str]]:
    def argv(launch: Launch) -> list[str]:
        interface = launch.scenario.interface
        args = [str(exe), "--interface", interface, "--workers", str(launch.workers)]
        if interface == "wsgi":  # WSGI calls run on granian's blocking-thread pool
            args += ["--blocking-threads", str(launch.threads)]
        return [
            *args,
            *("--host", HOST, "--port", str(launch.port), "--working-dir", str(APPS)),
            *("--log-level", "warning", launch.scenario.target),
        ]

    return argv


def _bjoern(python: Path) -> Callable[[Launch], list[str]]:
    launcher = APPS / "bjoern_serve.py"

    def argv(launch: Launch) -> list[str]:
        return [
            *(str(python), str(launcher), launch.scenario.target),
            *(HOST, str(launch.port), str(launch.workers)),
        ]

    return argv


def _mod_wsgi(exe: Path, *, per_interpreter_gil: bool) -> Callable[[Launch], list[str]]:
    def argv(launch: Launch) -> list[str]:
        module, _, attr = launch.scenario.target.partition(":")
        args = [
            # The wrapper makes a CPython under /root readable to www-data.
            *(str(HERE / "mod_wsgi_ns.sh"), sys.base_prefix),
            *(str(exe), "start-server", str(APPS / f"{module}.py"), "--callable-object", attr),
            *("--host", HOST, "--port", str(launch.port), "--server-root", str(launch.scratch)),
            *("--processes", str(launch.workers), "--threads", str(launch.threads)),
            # Apache's front end takes 1.5 x processes x threads connections by
            # default (12 for 2 x 4): let it hold all of wrk's, as every other
            # server does. With the event MPM it then still drops keep-alive
            # connections under load (thousands of wrk read errors on this
            # box); the worker MPM, a thread per connection, drops none.
            *("--max-clients", str(launch.connections), "--server-mpm", "worker"),
            *("--working-directory", str(APPS), "--python-path", str(APPS)),
            *("--log-level", "warn"),
            *("--include-file", str(APPS / "mod_wsgi_keepalive.conf")),
        ]
        if os.geteuid() == 0:  # Apache will not serve as root
            args += ["--user", "www-data", "--group", "www-data"]
        if per_interpreter_gil:
            # mod_wsgi-express has no flag for it: the Apache directive comes
            # from an included file, and the app goes into a named
            # sub-interpreter (the main interpreter cannot have its own GIL).
            args += ["--application-group", "bench"]
            args += ["--include-file", str(APPS / "mod_wsgi_per_interpreter_gil.conf")]
        return args

    return argv


def all_peers(venv: Path) -> list[Peer]:
    bin_dir = venv / "bin"
    status = read_peer_status(venv)
    python, express = bin_dir / "python", bin_dir / "mod_wsgi-express"
    both, wsgi = ("wsgi", "asgi"), ("wsgi",)

    def peer(
        name: str,
        interfaces: tuple[str, ...],
        exe: Path,
        argv: Callable,
        *needs: str,
        **extra: object,
    ) -> Peer:
        # The first of the install records (name, then `needs`) that says why it cannot run.
        reasons = (_skip_reason(package, exe, status) for package in (name, *needs))
        return Peer(name, interfaces, argv, next((r for r in reasons if r), None), **extra)

    subserve = bin_dir / "subserve"

    def subserve_peer(name: str, kind: str | None) -> Peer:
        needs = ("subserve",) if kind else ()
        return peer(
            name,
            both,
            subserve,
            _subserve(subserve, kind),
            *needs,
            variant=kind is not None,
            kind_from_log=subserve_kind,
        )

    return [
        subserve_peer("subserve", None),
        subserve_peer("subserve-thread", "thread"),
        subserve_peer("subserve-process", "process"),
        peer("gunicorn", wsgi, bin_dir / "gunicorn", _gunicorn(bin_dir / "gunicorn")),
        peer("uvicorn", ("asgi",), bin_dir / "uvicorn", _uvicorn(bin_dir / "uvicorn")),
        peer("granian", both, bin_dir / "granian", _granian(bin_dir / "granian")),
        peer("bjoern", wsgi, python, _bjoern(python)),
        peer("mod_wsgi", wsgi, express, _mod_wsgi(express, per_interpreter_gil=False)),
        peer(
            "mod_wsgi-pergil",
            wsgi,
            express,
            _mod_wsgi(express, per_interpreter_gil=True),
            "mod_wsgi",
        ),
    ]
