"""--timeout: a request that makes no progress is interrupted, answered 504,
and its worker goes on serving.

Runs in: the test process (the server runs in its own process).
"""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.server


def test_a_spinning_request_is_interrupted_and_its_worker_serves_on(start_server) -> None:
    server = start_server("hanging:app", "--workers", "1", "--threads", "1", "--timeout", "1")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before = client.get("/").json()
        started = time.monotonic()
        spun = client.get("/spin")
        took = time.monotonic() - started
        assert spun.status_code == 504 and spun.headers["connection"] == "close"
        assert 1.0 <= took < 2.5, took
        after = client.get("/").json()  # the same interpreter and thread, freed
    assert after == before
    assert "GET /spin made no progress for 1 s: interrupting it" in server.wait_for_log("/spin made")
    assert '"GET /spin HTTP/1.1" 504' in server.wait_for_log('"GET /spin')
    assert server.stop() == 0


def test_a_request_blocked_in_c_is_answered_and_its_capacity_comes_back(start_server) -> None:
    """One worker, one thread, stuck in time.sleep: only a successor can serve
    the next request."""
    server = start_server("hanging:app", "--workers", "1", "--threads", "1", "--timeout", "1",
                          "--graceful-timeout", "2")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before = client.get("/").json()["pid"]
        started = time.monotonic()
        stuck = client.get("/sleep")
        assert stuck.status_code == 504 and stuck.headers["connection"] == "close"
        assert time.monotonic() - started < 4
        after = client.get("/")  # waits for the successor, if it must
        assert after.status_code == 200 and after.json()["pid"] != before
        assert time.monotonic() - started < 6
    line = server.wait_for_log("still blocked")
    assert "GET /sleep" in line and "answered 504" in line and "(1 so far)" in line
    server.wait_for_log("asked for a successor")
    # the old process drains what it can, gives up on the stuck thread, and exits
    assert "replaced, exited with code 1" in server.wait_for_log("replaced, exited", timeout=15)
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 5


@pytest.mark.kinds("interpreter")
def test_without_a_supervisor_a_stuck_thread_is_only_reported(start_server) -> None:
    server = start_server("hanging:app", "--workers", "1", "--threads", "2", "--timeout", "1",
                          "--graceful-timeout", "1", "--no-supervisor")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/sleep").status_code == 504
        assert client.get("/").status_code == 200  # the other thread serves on
    assert "serving on with less capacity" in server.wait_for_log("less capacity")
    started = time.monotonic()
    server.signal()
    assert server.wait_exit(10) == 1  # the stop timed out on the stuck request
    assert time.monotonic() - started < 1 + 3  # the graceful timeout, then the workers' grace


def test_a_slow_response_that_keeps_sending_is_not_cut(start_server) -> None:
    server = start_server("hanging:app", "--timeout", "1", "--no-access-log")
    response = httpx.get(server.url + "/trickle", timeout=10)
    assert response.status_code == 200
    assert response.text == "".join(f"chunk {n}\n" for n in range(6))
    assert "made no progress" not in server.log()
    assert server.stop() == 0
