"""The handles of subserve._engine (Queue, Engine, Pool): counted references,
destruction in the wrong order, the engine's counters, error messages, and
the text signatures and docstrings of every public callable.

Runs in: the test process, with a real engine (a C I/O thread) on a
listening socket of 127.0.0.1, and for some tests OWN_GIL subinterpreters
(a pool's, or one made with ``_interpreters``). Wrong-order destruction must
give errors, never a crash: run this file under AddressSanitizer too.
"""

from __future__ import annotations

import _datetime  # noqa: F401 - 3.13.0 needs it in main before subinterpreters
import _interpreters
import contextlib
import inspect
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from subserve import _engine

TIMEOUT = 10.0  # generous: only reached when something is broken
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BAD = b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"
PRELUDE = f"import sys\nsys.path[:] = {sys.path!r}\nfrom subserve import _engine\n"


@dataclass
class Served:
    queue: _engine.Queue
    engine: _engine.Engine
    port: int

    def client(self, data: bytes = b"") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        if data:
            sock.sendall(data)
        return sock


@pytest.fixture
def served() -> Iterator[Served]:
    """A started engine on a fresh listening socket, putting on a fresh queue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    queue = _engine.queue_create(8)
    engine = _engine.engine_create([listener.detach()], queue.id)
    engine.start()
    yield Served(queue, engine, port)
    for handle in (engine, queue):  # a test may have destroyed them already
        with contextlib.suppress(_engine.EngineError):
            handle.destroy()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return read_all(sock) == b""
    except ConnectionResetError:
        return True


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# -- the engine's counters ----------------------------------------------------

# accept4 never ran out of fds here
NO_FD_LIMIT = {"fd_limit_episodes": 0, "fd_limit_closed": 0, "fd_limit_errno": 0,
               "accept_paused": 0}


def test_stats_count_what_the_engine_did(served: Served) -> None:
    good, bad = served.client(GET), served.client(BAD)
    try:
        # the close comes after the engine counted the refusal
        assert read_all(bad).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        fd = served.queue.get(timeout=TIMEOUT)[0]
        with pytest.raises(_engine.QueueEmpty):
            served.queue.get_nowait()
        assert served.engine.stats() == {"accepted": 2, "requests": 1, "rejected": 1,
                                         "busy": 1, "open": 1, **NO_FD_LIMIT}
        served.engine.close_connection(fd)
        assert served.engine.stats() == {"accepted": 2, "requests": 1, "rejected": 1,
                                         "busy": 0, "open": 0, **NO_FD_LIMIT}
        assert closed_by_server(good)
        assert served.engine.wait_idle(0) == 0
    finally:
        good.close()
        bad.close()


def test_next_request_and_park_keep_the_connection(served: Served) -> None:
    with served.client(GET + GET) as client:
        fd, _, _, record, leftover = served.queue.get(timeout=TIMEOUT)
        assert record.startswith(b"GET\0/\0") and leftover == GET
        item = served.engine.next_request(fd, leftover)  # a whole pipelined head
        assert item is not None and item[0] == fd and item[4] == b""
        assert served.engine.stats()["requests"] == 2
        assert served.engine.next_request(fd, b"GET / HT") is None  # the engine completes it
        assert served.engine.stats()["busy"] == 0
        client.sendall(b"TP/1.1\r\nHost: x\r\n\r\n")
        fd = served.queue.get(timeout=TIMEOUT)[0]
        served.engine.park(fd)  # idle: back to the engine, still open
        assert served.engine.stats() | {"accepted": 0} == {"accepted": 0, "requests": 3,
                                                           "rejected": 0, "busy": 0, "open": 1,
                                                           **NO_FD_LIMIT}
        client.sendall(GET)
        fd = served.queue.get(timeout=TIMEOUT)[0]
        assert served.engine.next_request(fd, BAD) is None  # answered and closed
        assert read_all(client).startswith(b"HTTP/1.1 400 Bad Request\r\n")
        wait_for(lambda: served.engine.stats()["open"] == 0)
        assert served.engine.stats()["rejected"] == 1


# -- destruction in the wrong order ---------------------------------------------


def test_engine_whose_queue_was_destroyed_closes_new_connections(served: Served) -> None:
    served.queue.destroy()
    with served.client(GET) as client:
        assert closed_by_server(client)  # the engine's put failed
    wait_for(lambda: served.engine.stats()["open"] == 0)
    assert served.engine.stats()["requests"] == 1 and served.engine.stats()["busy"] == 0


def test_verbs_on_a_destroyed_engine_close_the_fd_and_raise(served: Served) -> None:
    clients = [served.client(GET) for _ in range(3)]
    idle = served.client(b"GET / HT")  # a partial head: the engine owns it
    try:
        fds = [served.queue.get(timeout=TIMEOUT)[0] for _ in clients]
        other = _engine.engine_bind(served.engine.id)
        eid = other.id
        assert eid == served.engine.id
        served.engine.destroy()
        assert closed_by_server(idle)
        closed = f"^engine {eid} is closed$"
        verbs = [other.close_connection, other.park, lambda fd: other.next_request(fd, GET)]
        for verb, fd, client in zip(verbs, fds, clients, strict=True):
            with pytest.raises(_engine.EngineError, match=closed):
                verb(fd)
            assert closed_by_server(client)
        for call in (other.start, other.drain, other.stats, other.drain_fd, other.destroy,
                     lambda: other.wait_idle(0), lambda: other.draining, lambda: other.park(0)):
            with pytest.raises(_engine.EngineError, match=closed):
                call()
        with pytest.raises(_engine.EngineError, match=f"^no such engine {eid}$"):
            _engine.engine_bind(eid)
    finally:
        for sock in [*clients, idle]:
            sock.close()


def test_destroy_wakes_a_subinterpreter_blocked_in_get() -> None:
    queue, ready = _engine.queue_create(1), _engine.queue_create(1)
    iid = _interpreters.create("isolated")
    errors: list[object] = []

    def blocked_get() -> None:  # the subinterpreter waits on a handle it bound
        errors.append(_interpreters.exec(iid, PRELUDE + (
            f"q = _engine.queue_bind({queue.id})\n"
            f"_engine.queue_bind({ready.id}).put(0, 0, 0, b'', b'')\n"
            "try:\n"
            "    q.get()\n"
            "except _engine.QueueClosed as exc:\n"
            f"    assert str(exc) == 'queue {queue.id} is closed', exc\n"
            "else:\n"
            "    raise AssertionError('get returned')\n"
        )))

    thread = threading.Thread(target=blocked_get)
    thread.start()
    try:
        ready.get(timeout=TIMEOUT)
        time.sleep(0.05)  # into the wait; a get after the destroy fails the same way
        queue.destroy()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "destroy did not wake the subinterpreter"
        assert errors == [None], errors[0].errdisplay
    finally:
        ready.destroy()
        _interpreters.destroy(iid)


@pytest.fixture
def pool() -> Iterator[tuple[_engine.Pool, _engine.Queue]]:
    """A pool of one worker blocked in a queue get until it gets a stop item."""
    hold = _engine.queue_create(1)
    program = PRELUDE + f"_engine.queue_bind({hold.id}).get()\n"
    workers = _engine.pool_start(program, 1)
    yield workers, hold
    hold.put_stop(1)
    with contextlib.suppress(_engine.EngineError):
        assert workers.join(TIMEOUT) == 0
        workers.destroy()
    hold.destroy()


def test_pool_refuses_destroy_while_a_worker_runs(pool) -> None:
    workers, hold = pool
    pid = workers.id
    assert len(workers) == 1
    with pytest.raises(_engine.EngineError,
                       match=rf"^pool {pid}: 1 worker thread\(s\) still running; join them first$"):
        workers.destroy()
    hold.put_stop(1)
    assert workers.join(TIMEOUT) == 0
    [(state, loaded, message)] = workers.wait(0)
    assert state == _engine.WORKER_EXITED and message is None
    workers.destroy()
    with pytest.raises(_engine.EngineError, match=f"^pool {pid} is closed$"):
        workers.wait(0)
    with pytest.raises(_engine.EngineError, match=f"^no such pool {pid}$"):
        _engine.pool_bind(pid)


def test_bind_after_destroy_finds_nothing(served: Served) -> None:
    qid, eid = served.queue.id, served.engine.id
    assert _engine.queue_bind(qid).id == qid and _engine.engine_bind(eid).id == eid
    served.engine.destroy()
    served.queue.destroy()
    with pytest.raises(_engine.EngineError, match=f"^no such queue {qid}$"):
        _engine.queue_bind(qid)
    with pytest.raises(_engine.EngineError, match=f"^no such engine {eid}$"):
        _engine.engine_bind(eid)


def test_engine_create_on_an_unknown_queue_leaves_the_socket_to_the_caller() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(_engine.EngineError, match="^no such queue 987654321$"):
            _engine.engine_create([listener.fileno()], 987654321)
        assert listener.getsockname()[1] > 0  # still open, still ours


def test_handles_cannot_be_made_directly() -> None:
    for cls in (_engine.Queue, _engine.Engine, _engine.Pool):
        with pytest.raises(TypeError):
            cls()


# -- messages ------------------------------------------------------------------------


def error_of(call: Callable[[], object]) -> Exception:
    with pytest.raises((_engine.EngineError, ValueError)) as info:
        call()
    return info.value


def test_every_message_names_its_object(served: Served, pool) -> None:
    workers, _hold = pool
    q, e, p = served.queue, served.engine, workers
    full = _engine.queue_create(1)
    full.put(1, 0, 0, b"", b"")
    gone = _engine.queue_create(1)
    gone.destroy()
    expected = {
        f"queue {q.id} is empty": q.get_nowait,
        f"queue {full.id} is full": lambda: full.put(2, 0, 0, b"", b"", block=False),
        f"queue {q.id} has no consumer group 5": lambda: q.get_nowait(group=5),
        f"queue {gone.id} is closed": lambda: len(gone),
        f"no such queue {gone.id}": lambda: _engine.queue_bind(gone.id),
        f"engine {e.id}: fd 9999 is not a connection a worker owns": lambda: e.park(9999),
        f"engine {e.id} is already started": e.start,
        "no such engine 987654321": lambda: _engine.engine_bind(987654321),
        f"pool {p.id} has no worker 7": lambda: p.report(7, True, ""),
        f"pool {p.id}: 1 worker thread(s) still running; join them first": p.destroy,
        "no such pool 987654321": lambda: _engine.pool_bind(987654321),
    }
    try:
        for message, call in expected.items():
            text = str(error_of(call))
            assert text == message
            assert re.search(r"\b(queue|engine|pool) \d+\b", text), text
            assert not re.search(r"engine error|-\d{4}", text), text
    finally:
        full.destroy()


# -- signatures and docstrings ---------------------------------------------------------


def public_callables() -> Iterator[tuple[str, object]]:
    for name in dir(_engine):
        obj = getattr(_engine, name)
        if name.startswith("_") or not callable(obj) or isinstance(obj, type):
            continue
        yield name, obj
    for cls in (_engine.Queue, _engine.Engine, _engine.Pool):
        for name, attr in vars(cls).items():
            if callable(attr) and (not name.startswith("_") or name == "__len__"):
                yield f"{cls.__name__}.{name}", attr


def test_every_public_callable_has_a_signature_and_a_docstring() -> None:
    names = []
    for name, obj in public_callables():
        inspect.signature(obj)  # raises ValueError without a text signature
        assert obj.__doc__ and obj.__doc__.strip(), name
        names.append(name)
    assert {"queue_create", "engine_bind", "pool_start", "send_all", "parse_head", "Queue.get",
            "Engine.next_request", "Pool.join", "Queue.__len__"} <= set(names)
    for cls in (_engine.Queue, _engine.Engine, _engine.Pool, _engine.EngineError,
                _engine.QueueClosed, _engine.QueueEmpty, _engine.QueueFull):
        assert cls.__doc__ and cls.__doc__.strip(), cls
    for attr in (_engine.Queue.id, _engine.Engine.id, _engine.Pool.id, _engine.Engine.draining):
        assert attr.__doc__, attr


def test_signatures_read_as_documented() -> None:
    assert str(inspect.signature(_engine.queue_create)) == "(capacity, groups=1)"
    assert str(inspect.signature(_engine.Queue.get)) == "(self, /, timeout=None, *, group=0)"
    assert str(inspect.signature(_engine.Engine.next_request)) == "(self, fd, data, /)"
    create = inspect.signature(_engine.engine_create).parameters
    assert create["keepalive"].default == _engine.DEFAULT_KEEPALIVE
    assert create["max_head"].default == _engine.DEFAULT_MAX_HEAD
    head = inspect.signature(_engine.parse_head).parameters
    assert head["max_fields"].default == _engine.DEFAULT_MAX_FIELDS
