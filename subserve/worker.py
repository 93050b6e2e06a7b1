"""The body of a worker interpreter: load the app once, then serve requests.

Runs in: worker interpreters. The main interpreter starts each worker with a
small bootstrap program (``bootstrap_program``) that fixes ``sys.path`` and
calls ``run`` with plain values only.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from subserve import _engine
from subserve.accesslog import AccessLog
from subserve.appload import describe_load_error, load_app
from subserve.interface import WSGI, as_asgi3, detect

log = logging.getLogger("subserve.error")


def bootstrap_program(path: list[str], **settings: object) -> str:
    """The Python source each new worker interpreter runs (plain literals only).

    The pool sets ``__pool_id__`` and ``__worker_index__`` in its ``__main__``.
    """
    return (
        "import sys\n"
        f"sys.path[:] = {path!r}\n"
        "from subserve.worker import run\n"
        f"run(pool_id=__pool_id__, index=__worker_index__, **{settings!r})\n"
    )


def configure_logging(level: str, index: int) -> None:
    """Each interpreter has its own logging module; point it at stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"[%(asctime)s] [worker {index}] [%(levelname)s] %(message)s")
    )
    root = logging.getLogger("subserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def next_item(queue_id: int, group: int, on_idle: Callable[[], None]) -> tuple:
    """The next queue item; ``on_idle`` runs first if we are about to wait."""
    try:
        return _engine.queue_get_nowait(queue_id, group=group)
    except _engine.QueueEmpty:
        on_idle()
        return _engine.queue_get(queue_id, group=group)


def serve(handler_factory: Callable[[], object], queue_id: int, engine_id: int,
          on_idle: Callable[[], None], group: int = 0) -> None:
    """Take connections from the queue until a stop item (fd -1) arrives.

    ``group`` is the interpreter's index: the queue's consumer group.
    """
    handler = handler_factory()
    while True:
        item = next_item(queue_id, group, on_idle)
        if item[0] < 0:
            return
        while item is not None:
            fd = item[0]
            try:
                keep_alive, leftover = handler.handle(item)
            except BaseException:
                # handle() answers app errors itself; this is our own bug.
                log.exception("internal error while serving fd %d", fd)
                keep_alive, leftover = False, b""
            item = _engine.release(engine_id, fd, keep_alive, leftover)


def run(
    *,
    pool_id: int,
    index: int,
    queue_id: int,
    engine_id: int,
    app: str,
    factory: bool,
    interface: str,
    threads: int,
    access_log: bool,
    log_level: str,
    **http: Any,
) -> None:
    """Load the app, report to main, then serve it: WSGI on `threads`
    threads, ASGI on one asyncio loop."""
    configure_logging(log_level, index)

    def report(ok: bool, message: str) -> None:
        _engine.pool_report(pool_id, index, ok, message)

    try:
        application = load_app(app, factory)
        kind = detect(application, interface)
        # Imported here so that a module refusing this interpreter is
        # reported like any other load failure.
        if kind == WSGI:
            from subserve.wsgi import WSGIHandler
        else:
            application = as_asgi3(application, kind)
            from subserve.asgi_worker import run_asgi
    except BaseException as exc:  # noqa: BLE001 - every failure must reach main
        report(False, describe_load_error(app, exc))
        return
    access = AccessLog(index) if access_log else None
    try:
        if kind == WSGI:
            handler = partial(WSGIHandler, application, access_log=access, error_log=log,
                              multithread=threads > 1,
                              is_draining=partial(_engine.draining, engine_id),
                              url_scheme=http["url_scheme"], root_path=http["root_path"])
            report(True, "")
            serve_on_threads(handler, threads, index, queue_id, engine_id,
                             access.flush if access is not None else _nothing)
        else:
            run_asgi(application, report, queue_id=queue_id, engine_id=engine_id,
                     access_log=access, **http)
    finally:
        if access is not None:
            access.flush()
        forget_dummy_thread()


def _nothing() -> None:
    pass


def serve_on_threads(make_handler: Callable[[], object], threads: int, index: int,
                     queue_id: int, engine_id: int, on_idle: Callable[[], None]) -> None:
    """Serve on this (C-created) thread plus threads-1 threading.Threads."""
    extra = [
        threading.Thread(target=serve, args=(make_handler, queue_id, engine_id, on_idle, index),
                         name=f"subserve-worker-{index}.{n}")
        for n in range(1, threads)
    ]
    for thread in extra:
        thread.start()
    serve(make_handler, queue_id, engine_id, on_idle, index)
    for thread in extra:
        thread.join()


def forget_dummy_thread() -> None:
    """Drop threading's record of this C-created thread while the module still works.

    threading sees the pool's thread as a "dummy" thread and tracks it with an
    object whose __del__ would otherwise run during Py_EndInterpreter, after
    threading's globals are gone, and print a spurious traceback.
    """
    tracker = getattr(threading, "_thread_local_info", None)
    if tracker is not None:
        vars(tracker).pop("_track_dummy_thread_ref", None)
