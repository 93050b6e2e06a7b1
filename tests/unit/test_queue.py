"""The C request queue of subserve._engine, without a server: items, order,
timeouts, bounds, close, the wake-up fd, threads, and other interpreters.

Runs in: the test process (and, for the last tests, in OWN_GIL subinterpreters
it creates).
"""

from __future__ import annotations

import _datetime  # noqa: F401 - every 3.13.x needs it in main before subinterpreters (docs/design.md)
import _interpreters
import contextlib
import select
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from subserve import _engine

TIMEOUT = 10.0  # generous: only reached when something is broken


@pytest.fixture
def queue() -> Iterator[_engine.Queue]:
    q = _engine.queue_create(8)
    yield q
    with contextlib.suppress(_engine.EngineError):  # the test may have destroyed it
        q.destroy()


def put(q: _engine.Queue, n: int, **kwargs) -> None:
    """Put item number n: every field derived from n."""
    q.put(n, n % 32, n * 10, b"rec%d" % n, b"data%d" % n, **kwargs)


def item(n: int) -> tuple:
    return (n, n % 32, n * 10, b"rec%d" % n, b"data%d" % n)


# -- one thread --------------------------------------------------------------


def test_round_trip_keeps_every_field(queue: _engine.Queue) -> None:
    record = b"GET\0/x?y=1\0127.0.0.1\x0051000\0\0\0host\0example"
    data = bytes(range(256)) * 3
    queue.put(17, 0b10101, 1 << 40, record, data)
    assert len(queue) == 1
    assert queue.get(timeout=TIMEOUT) == (17, 0b10101, 1 << 40, record, data)
    assert len(queue) == 0


def test_stop_item_and_empty_bytes(queue: _engine.Queue) -> None:
    queue.put(-1, 0, -1, b"", b"")
    assert queue.get(timeout=TIMEOUT) == (-1, 0, -1, b"", b"")
    queue.put_stop(2)
    assert [queue.get(timeout=TIMEOUT) for _ in range(2)] == [(_engine.STOP_FD, 0, 0, b"", b"")] * 2


def test_fifo_order(queue: _engine.Queue) -> None:
    for n in range(8):
        put(queue, n)
    assert [queue.get(timeout=TIMEOUT) for _ in range(8)] == [item(n) for n in range(8)]


def test_get_times_out_on_an_empty_queue(queue: _engine.Queue) -> None:
    with pytest.raises(_engine.QueueEmpty):
        queue.get(timeout=0.05)
    with pytest.raises(_engine.QueueEmpty):
        queue.get_nowait()
    assert issubclass(_engine.QueueEmpty, _engine.EngineError)


def test_nonblocking_put_on_a_full_queue(queue: _engine.Queue) -> None:
    for n in range(8):
        put(queue, n, block=False)
    with pytest.raises(_engine.QueueFull):
        put(queue, 99, block=False)
    assert len(queue) == 8
    assert queue.get_nowait() == item(0)
    put(queue, 8, block=False)  # room again
    assert [queue.get_nowait() for _ in range(8)] == [item(n) for n in range(1, 9)]


def test_destroyed_queue() -> None:
    q = _engine.queue_create(1)
    qid = q.id
    q.destroy()
    with pytest.raises(_engine.QueueClosed, match=f"^queue {qid} is closed$"):
        put(q, 1)
    with pytest.raises(_engine.EngineError, match=f"^no such queue {qid}$"):
        _engine.queue_bind(qid)
    with pytest.raises(_engine.QueueClosed, match=f"^queue {qid} is closed$"):
        q.destroy()


def test_ids_are_never_reused() -> None:
    first = _engine.queue_create(1)
    first.destroy()
    second = _engine.queue_create(1)
    try:
        assert second.id > first.id
        with pytest.raises(_engine.EngineError, match=f"no such queue {first.id}"):
            _engine.queue_bind(first.id)
    finally:
        second.destroy()


# -- threads -----------------------------------------------------------------


def outcome_of_destroy_while_blocked(call, fill: int = 0) -> BaseException:
    """Run call(queue) in a thread on a fresh queue holding `fill` items,
    destroy the queue while the call waits, and return what the call raised.

    The handle exists before the thread starts, so the call always reaches
    the queue; the thread tells us just before it calls, then has a moment
    to block (correctness does not depend on it: a call that comes after
    the destroy must fail the same way).
    """
    q = _engine.queue_create(max(fill, 1))
    for n in range(fill):
        put(q, n)
    outcome: list[BaseException | object] = []
    calling = threading.Event()

    def target() -> None:
        calling.set()
        try:
            outcome.append(call(q))
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    assert calling.wait(TIMEOUT)
    time.sleep(0.05)
    q.destroy()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "destroy did not wake the blocked call"
    [result] = outcome
    assert isinstance(result, _engine.EngineError), f"the call returned {result!r}"
    assert str(result) == f"queue {q.id} is closed"
    return result


def test_destroy_wakes_a_blocked_getter() -> None:
    result = outcome_of_destroy_while_blocked(lambda q: q.get())
    assert type(result) is _engine.QueueClosed, result


def test_destroy_wakes_a_blocked_putter() -> None:
    result = outcome_of_destroy_while_blocked(lambda q: put(q, 99), fill=1)
    assert type(result) is _engine.QueueClosed, result


def test_wakeup_fd_becomes_readable_on_put(queue: _engine.Queue) -> None:
    fd = queue.wakeup_fd()
    assert fd >= 0
    assert select.select([fd], [], [], 0.05)[0] == []
    put(queue, 1)
    assert select.select([fd], [], [], TIMEOUT)[0] == [fd]
    assert queue.wakeup_fd() == fd  # one fd per queue


def test_wakeup_fd_asked_for_after_a_put_is_readable() -> None:
    q = _engine.queue_create(4)
    try:
        put(q, 1)
        fd = q.wakeup_fd()
        assert select.select([fd], [], [], TIMEOUT)[0] == [fd]
    finally:
        q.destroy()


@pytest.mark.parametrize("groups", [1, 3])
def test_many_producers_many_consumers_deliver_each_item_once(groups: int) -> None:
    producers, consumers, per_producer = 4, 4, 2000
    q = _engine.queue_create(16, groups=groups)  # small: producers block on a full queue too
    received: list[list[int]] = [[] for _ in range(consumers)]

    def produce(p: int) -> None:
        for i in range(per_producer):
            put(q, p * per_producer + i)

    def consume(c: int) -> None:
        while True:
            fd, flags, clen, record, data = q.get(timeout=TIMEOUT, group=c % groups)
            if fd < 0:
                return
            assert (flags, clen, record, data) == item(fd)[1:]
            received[c].append(fd)

    threads = [threading.Thread(target=consume, args=(c,)) for c in range(consumers)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads[consumers:]:
            thread.join(60)
        for _ in range(consumers):
            q.put(-1, 0, 0, b"", b"")
        for thread in threads[:consumers]:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        q.destroy()

    counts = Counter(n for got in received for n in got)
    assert set(counts) == set(range(producers * per_producer))
    assert set(counts.values()) == {1}, "some item was delivered twice"
    for got in received:  # FIFO holds per producer, seen from any one consumer
        for p in range(producers):
            mine = [n for n in got if n // per_producer == p]
            assert mine == sorted(mine)


def test_put_wakes_a_waiter_of_the_least_busy_group() -> None:
    """Threads of one interpreter share a GIL: an item goes to a waiting thread
    of the group with the fewest threads running, not to the longest waiter."""
    q = _engine.queue_create(8, groups=2)
    got: dict[str, int] = {}

    def wait_in(name: str, group: int) -> threading.Thread:
        def run() -> None:
            got[name] = q.get(timeout=TIMEOUT, group=group)[0]

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.2)  # blocked in the queue by now
        return thread

    try:
        put(q, 1)
        assert q.get_nowait(group=0)[0] == 1  # group 0 now runs one thread
        first = wait_in("group 0", 0)   # the longest waiter...
        second = wait_in("group 1", 1)  # ...and one of an idle group
        put(q, 2)
        second.join(TIMEOUT)
        assert got == {"group 1": 2}
        put(q, 3)
        first.join(TIMEOUT)
        assert got == {"group 1": 2, "group 0": 3}
        with pytest.raises(ValueError, match=f"queue {q.id} has no consumer group 2"):
            q.get_nowait(group=2)
    finally:
        q.destroy()


# -- other interpreters --------------------------------------------------------


@pytest.fixture
def subinterpreter() -> Iterator[int]:
    """An OWN_GIL interpreter that refuses single-phase-init extensions."""
    iid = _interpreters.create("isolated")
    try:
        config = _interpreters.get_config(iid)
        assert config.gil == "own" and config.check_multi_interp_extensions
        yield iid
    finally:
        _interpreters.destroy(iid)


def run_in(iid: int, code: str) -> None:
    """Run code in the interpreter (with our sys.path); fail on its exception."""
    prelude = f"import sys\nsys.path[:] = {sys.path!r}\nfrom subserve import _engine\n"
    error = _interpreters.exec(iid, prelude + code)
    assert error is None, error.errdisplay


def test_engine_loads_where_single_phase_extensions_are_refused(subinterpreter: int) -> None:
    run_in(subinterpreter, (  # the prelude imported _engine; httptools is the control
        "_engine.queue_create(1).destroy()\n"
        "try:\n"
        "    import httptools\n"
        "except ImportError as exc:\n"
        "    assert 'does not support loading in subinterpreters' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('httptools loaded: extensions are not checked here')\n"
    ))


def test_subinterpreter_puts_main_gets(subinterpreter: int, queue: _engine.Queue) -> None:
    run_in(subinterpreter, (
        "import _interpreters\n"
        "me = _interpreters.get_current()[0]\n"
        f"_engine.queue_bind({queue.id}).put(me, 5, 11, b'from sub', b'payload')\n"
    ))
    assert queue.get(timeout=TIMEOUT) == (subinterpreter, 5, 11, b"from sub", b"payload")


def test_main_puts_blocked_subinterpreter_gets_and_replies(subinterpreter: int,
                                                           queue: _engine.Queue) -> None:
    replies = _engine.queue_create(1)
    errors: list[BaseException] = []

    def serve_one() -> None:  # the subinterpreter blocks in get (its GIL released)
        try:
            run_in(subinterpreter, (
                f"q, back = _engine.queue_bind({queue.id}), _engine.queue_bind({replies.id})\n"
                f"fd, flags, clen, record, data = q.get(timeout={TIMEOUT})\n"
                "back.put(fd + 1, flags, clen * 2, record.upper(), data[::-1])\n"
            ))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=serve_one)
    thread.start()
    try:
        queue.put(41, 3, 21, b"from main", b"abc")
        reply = replies.get(timeout=TIMEOUT)
        thread.join(TIMEOUT)
    finally:
        replies.destroy()
    assert not errors, errors
    assert reply == (42, 3, 42, b"FROM MAIN", b"cba")


def test_queue_shared_by_two_subinterpreters() -> None:
    sender, receiver = _interpreters.create("isolated"), _interpreters.create("isolated")
    q = _engine.queue_create(4)
    back = _engine.queue_create(4)
    try:
        run_in(sender, f"_engine.queue_bind({q.id}).put(7, 1, 2, b'hop', b'one')\n")
        run_in(receiver, (
            f"item = _engine.queue_bind({q.id}).get(timeout={TIMEOUT})\n"
            f"_engine.queue_bind({back.id}).put(*item[:3], item[3] + b'!', item[4] + b'!')\n"
        ))
        assert back.get(timeout=TIMEOUT) == (7, 1, 2, b"hop!", b"one!")
    finally:
        q.destroy()
        back.destroy()
        _interpreters.destroy(sender)
        _interpreters.destroy(receiver)
