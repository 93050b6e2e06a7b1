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

from subserve import _engine
from subserve.accesslog import AccessLog
from subserve.appload import describe_load_error, load_app

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


def next_item(queue_id: int, on_idle: Callable[[], None]) -> tuple:
    """The next queue item; ``on_idle`` runs first if we are about to wait."""
    try:
        return _engine.queue_get_nowait(queue_id)
    except _engine.QueueEmpty:
        on_idle()
        return _engine.queue_get(queue_id)


def serve(handler_factory: Callable[[], object], queue_id: int, engine_id: int,
          on_idle: Callable[[], None]) -> None:
    """Take connections from the queue until a stop item (fd -1) arrives."""
    handler = handler_factory()
    while True:
        item = next_item(queue_id, on_idle)
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
    threads: int,
    access_log: bool,
    log_level: str,
    root_path: str,
    url_scheme: str,
) -> None:
    """Load the app, report to main, then serve on `threads` threads."""
    configure_logging(log_level, index)
    try:
        application = load_app(app, factory)
        from subserve.wsgi import WSGIHandler
    except BaseException as exc:  # noqa: BLE001 - every failure must reach main
        _engine.pool_report(pool_id, index, False, describe_load_error(app, exc))
        return

    access = AccessLog(index) if access_log else None

    def make_handler() -> WSGIHandler:
        return WSGIHandler(
            application,
            url_scheme=url_scheme,
            root_path=root_path,
            access_log=access,
            error_log=log,
            multithread=threads > 1,
            is_draining=lambda: _engine.draining(engine_id),
        )

    _engine.pool_report(pool_id, index, True, "")
    on_idle = access.flush if access is not None else _nothing
    try:
        serve_on_threads(make_handler, threads, index, queue_id, engine_id, on_idle)
    finally:
        on_idle()
        forget_dummy_thread()


def _nothing() -> None:
    pass


def serve_on_threads(make_handler: Callable[[], object], threads: int, index: int,
                     queue_id: int, engine_id: int, on_idle: Callable[[], None]) -> None:
    """Serve on this (C-created) thread plus threads-1 threading.Threads."""
    extra = [
        threading.Thread(target=serve, args=(make_handler, queue_id, engine_id, on_idle),
                         name=f"subserve-worker-{index}.{n}")
        for n in range(1, threads)
    ]
    for thread in extra:
        thread.start()
    serve(make_handler, queue_id, engine_id, on_idle)
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
