"""Worker interpreters are isolated from each other, live in one process, and
run Python in parallel.

Runs in: the test process (the server runs in its own process).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict

import httpx
import pytest

# About interpreters: the other kinds have one interpreter per process
pytestmark = pytest.mark.kinds("interpreter")

CPU_LOOPS = 2_000_000  # about 0.3 s of pure Python per /cpu request
MAX_WHOAMI = 200
CPU_ATTEMPTS = 5


def whoami_until_two_interpreters(url: str) -> list[dict]:
    """/whoami on a fresh connection each time, until two interpreters answered."""
    answers: list[dict] = []
    while len({a["interp"] for a in answers}) < 2 and len(answers) < MAX_WHOAMI:
        response = httpx.get(f"{url}/whoami")  # no client: a new connection each time
        assert response.status_code == 200
        answers.append(response.json())
    return answers


def test_module_state_is_separate_per_interpreter(start_server) -> None:
    server = start_server("basic:app", "--workers", "2")
    answers = whoami_until_two_interpreters(server.url)
    counters: dict[int, list[int]] = defaultdict(list)
    for answer in answers:
        counters[answer["interp"]].append(answer["counter"])
    assert len(counters) == 2, f"one interpreter served all {len(answers)} requests"
    for interp, seen in counters.items():
        # each interpreter counts only the requests it served itself
        assert seen == list(range(1, len(seen) + 1)), (interp, seen)
    assert sum(len(seen) for seen in counters.values()) == len(answers)


def test_every_interpreter_is_in_the_serving_process(start_server) -> None:
    server = start_server("basic:app", "--workers", "2")
    answers = whoami_until_two_interpreters(server.url)
    assert len({a["interp"] for a in answers}) == 2
    # one process, the supervisor's one child
    assert [a["pid"] for a in answers[:1]] == server_children(server.proc.pid)
    assert {a["pid"] for a in answers} == {answers[0]["pid"]}
    # one OS thread per single-threaded worker interpreter
    threads_by_interp = defaultdict(set)
    for answer in answers:
        threads_by_interp[answer["interp"]].add(answer["thread"])
    assert all(len(threads) == 1 for threads in threads_by_interp.values())
    assert len(set().union(*threads_by_interp.values())) == 2


def cpu_pair(url: str, *, connect_first: bool = True, stagger: float = 0.0,
             loops: int = CPU_LOOPS) -> list[dict]:
    """Two /cpu requests released together, each on its own connection
    (made before the release, unless not ``connect_first``); the second
    ``stagger`` seconds after the first."""
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def one(delay: float) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                if connect_first:
                    client.get(f"{url}/hello")  # connect before the barrier
                barrier.wait()
                time.sleep(delay)
                response = client.get(f"{url}/cpu?{loops}")
                assert response.status_code == 200
                results.append(response.json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(delay,)) for delay in (0.0, stagger)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_cpu_bound_requests_run_in_parallel_interpreters(start_server) -> None:
    server = start_server("basic:app", "--workers", "2")
    first, second = parallel_cpu_pair(server.url)
    # each started before the other ended: they ran at the same time, each
    # under its own interpreter's GIL
    assert first["start"] < second["end"], (first, second)
    assert second["start"] < first["end"], (first, second)


def test_with_threads_concurrent_requests_go_to_idle_interpreters(start_server) -> None:
    """With --threads, two requests at once go to two interpreters, not to two
    threads of one (which would share its GIL), every time."""
    server = start_server("basic:app", "--workers", "2", "--threads", "4")
    for _ in range(CPU_ATTEMPTS):
        first, second = cpu_pair(server.url)
        assert first["interp"] != second["interp"], (first, second)


def parallel_cpu_pair(url: str) -> list[dict]:
    """A pair of /cpu requests that two interpreters served (a few tries)."""
    for _ in range(CPU_ATTEMPTS):
        first, second = cpu_pair(url)
        if first["interp"] != second["interp"]:
            break
    else:
        raise AssertionError(f"{CPU_ATTEMPTS} pairs were each served by one interpreter")
    assert first["total"] == second["total"] > 0
    return [first, second]


@pytest.mark.kinds("process")
def test_cpu_bound_requests_run_in_parallel_processes(start_server) -> None:
    """The process kind: two requests at once run at once, in two processes.
    A kept connection stays with the process that accepted it, and which of
    two idle processes accepts a connection is the kernel's race (two that
    arrive together can both go to one: a known weakness, until each
    process has a SO_REUSEPORT socket of its own); so the second request
    connects 0.1 s after the first, once the first process is busy and has
    stopped accepting. Each runs 5x the usual loop (0.5 s even on 3.14's
    faster interpreter), so they still overlap."""
    server = start_server("basic:app", "--workers", "2")
    for _ in range(CPU_ATTEMPTS):
        first, second = cpu_pair(server.url, connect_first=False, stagger=0.1,
                                 loops=5 * CPU_LOOPS)
        if first["pid"] != second["pid"]:
            break
    else:
        raise AssertionError(f"{CPU_ATTEMPTS} pairs were each served by one process")
    assert {first["pid"], second["pid"]} <= set(server_children(server.proc.pid))
    assert first["start"] < second["end"] and second["start"] < first["end"], (first, second)


FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()


@pytest.mark.kinds("thread")
@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython (python3.14t): "
                    "none can be installed on the machines this runs on; on a GIL build the "
                    "thread kind's threads take turns")
def test_thread_kind_runs_python_in_parallel_on_a_free_threaded_build(start_server) -> None:
    """One copy of the app, two threads, both cores: a pair of CPU-bound
    requests takes about as long as one."""
    server = start_server("basic:app", "--threads", "2")
    single = httpx.get(f"{server.url}/cpu?{CPU_LOOPS}", timeout=60).json()
    alone = single["end"] - single["start"]
    first, second = cpu_pair(server.url)
    together = max(first["end"], second["end"]) - min(first["start"], second["start"])
    assert together < 1.5 * alone, (alone, together)


def server_children(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]
