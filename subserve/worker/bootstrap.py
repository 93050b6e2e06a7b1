"""The body of a worker interpreter: load the app once, then serve requests.

Runs in: worker interpreters (for the thread and process worker kinds, a
worker runs in a main interpreter, on a thread of the pool). The pool runs
each worker's program (``handoff.settings.WorkerSettings.bootstrap_program``):
it fixes ``sys.path`` and calls ``main`` with the settings as plain values.

Order of a worker's life: check it loaded main's engine, bind the queue,
engine and pool from their ids (once: the hot path uses the bound handles),
load the app, tell main (``Pool.report``: ready, or the message of what
failed), serve until a stop item, flush the access log.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from subserve import _engine, log
from subserve.handoff.item import is_stop
from subserve.handoff.report import LoadFailure
from subserve.handoff.settings import WorkerSettings
from subserve.isolation.appload import describe_load_error, load_app
from subserve.isolation.refusal import find_refusal
from subserve.worker.accesslog import AccessLog
from subserve.worker.interface import WSGI, as_asgi3, detect
from subserve.worker.watchdog import Watchdog

error_log = logging.getLogger(log.ERROR)


def engine_mismatch(settings: WorkerSettings) -> str | None:
    """Why this interpreter cannot serve, if it loaded another copy of the
    engine than main did: its registries would not know main's queue."""
    if settings.engine_image == _engine.IMAGE_ID:
        return None
    return (f"this worker loaded subserve._engine from {_engine.__file__}, but the main "
            f"interpreter uses {settings.engine_file}: a second copy of subserve on the "
            "app's path shadows the running one. Remove it from --app-dir/sys.path.")


def next_item(queue: _engine.Queue, group: int, on_idle: Callable[[], None]) -> tuple:
    """The next queue item; ``on_idle`` runs first if we are about to wait."""
    try:
        return queue.get_nowait(group=group)
    except _engine.QueueEmpty:
        on_idle()
        return queue.get(group=group)


def serve(handler_factory: Callable[[], Any], queue: _engine.Queue, engine: _engine.Engine,
          on_idle: Callable[[], None], group: int = 0) -> None:
    """Take connections from the queue until a stop item arrives.

    ``group`` is the interpreter's index: the queue's consumer group.
    """
    handler = handler_factory()
    while True:
        item = next_item(queue, group, on_idle)
        if is_stop(item):
            return
        while item is not None:
            fd = item[0]
            try:
                keep_alive, leftover = handler.handle(item)
            except BaseException:
                # handle() answers app errors itself; this is our own bug.
                error_log.exception("internal error while serving fd %d", fd)
                keep_alive, leftover = False, b""
            if not keep_alive:
                engine.close_connection(fd)
                break
            if not leftover:
                engine.park(fd)  # idle: the engine waits for its next request
                break
            item = engine.next_request(fd, leftover)  # None unless a whole head


def main(raw: dict[str, Any], *, pool_id: int, index: int) -> None:
    """Load the app, report to main, then serve it: WSGI on ``threads``
    threads, ASGI on one asyncio loop."""
    settings = WorkerSettings.from_dict(raw)
    name = settings.first_index + index  # the worker's number in logs
    # In the main interpreter (the thread kind) main's logging stays as it is;
    # this thread's name gives its lines their tag, in every kind.
    if not log.is_configured():
        log.configure(settings.log_level, f"worker {name}")
    threading.current_thread().name = log.worker_thread_name(name, 0)
    try:
        mismatch = engine_mismatch(settings)
        if mismatch is not None:
            # This copy's registries do not know main's pool, so it cannot
            # report; the error reaches main as the interpreter's failure.
            raise RuntimeError(mismatch)
        pool = _engine.pool_bind(pool_id)
        loaded = load(settings, lambda ok, message: pool.report(index, ok, message))
        if loaded is not None:
            serve_app(*loaded, settings, index, name, pool)
    finally:
        forget_dummy_thread()


def load(settings: WorkerSettings,
         report: Callable[[bool, str], None]) -> tuple[str, Callable[..., Any]] | None:
    """(interface, app), or None once the failure was reported to main."""
    try:
        application = load_app(settings.app, settings.factory)
        kind = detect(application, settings.interface)
        # The adapter is imported here so that a module refusing this
        # interpreter is reported like any other load failure.
        if kind == WSGI:
            import subserve.wsgi.handler  # noqa: F401
        else:
            application = as_asgi3(application, kind)
            import subserve.asgi.loop  # noqa: F401
    except BaseException as exc:  # noqa: BLE001 - every failure must reach main
        refusal = find_refusal(exc)
        failure = LoadFailure(describe_load_error(settings.app, exc),
                              dataclasses.asdict(refusal) if refusal else None)
        report(False, failure.encode())
        return None
    return kind, application


def serve_app(kind: str, application: Callable[..., Any], settings: WorkerSettings,
              index: int, name: int, pool: _engine.Pool) -> None:
    """Serve the loaded app until the stop item; the app is ready: say so."""
    queue = _engine.queue_bind(settings.queue_id)
    engine = _engine.engine_bind(settings.engine_id)

    def report(ok: bool, message: str) -> None:
        pool.report(index, ok, message)

    access = AccessLog(name) if settings.access_log else None
    try:
        if kind == WSGI:
            from subserve.wsgi.handler import WSGIHandler
            handler = partial(WSGIHandler, application, settings, access_log=access,
                              error_log=error_log, is_draining=lambda: engine.draining)
            watchdog = (Watchdog(settings.timeout, log.worker_thread_name(name, settings.threads),
                                 engine if settings.supervised else None)
                        if settings.timeout > 0 else None)
            handler = partial(handler, watchdog=watchdog)
            report(True, "wsgi")  # ready: and the interface it serves
            if watchdog is not None:
                watchdog.start()
            try:
                serve_on_threads(handler, settings, index, name,
                                 access.flush if access is not None else _nothing, queue, engine)
            finally:
                if watchdog is not None:
                    watchdog.stop()
        else:
            from subserve.asgi.loop import run_asgi
            run_asgi(application, settings, report, access_log=access, queue=queue,
                     engine=engine)
    finally:
        if access is not None:
            access.flush()


def _nothing() -> None:
    pass


def serve_on_threads(make_handler: Callable[[], Any], settings: WorkerSettings, index: int,
                     name: int, on_idle: Callable[[], None], queue: _engine.Queue,
                     engine: _engine.Engine) -> None:
    """Serve on this (C-created) thread plus threads-1 threading.Threads.

    ``index`` is the worker's place in its pool (its queue consumer group),
    ``name`` its number in logs."""
    args = (make_handler, queue, engine, on_idle, index)
    extra = [threading.Thread(target=serve, args=args, name=log.worker_thread_name(name, n))
             for n in range(1, settings.threads)]
    for thread in extra:
        thread.start()
    serve(*args)
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
