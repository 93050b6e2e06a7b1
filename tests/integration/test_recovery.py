"""A route that crashes its process costs one restart, never the server.

Runs in: the test process (the server runs in its own process). Under every
worker kind: the supervisor (or, for the process kind, the process
supervisor) keeps the listening sockets, so the next request succeeds and
connections made during the restart wait in the backlog instead of being
refused; the crash is logged with its signal and the app's traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import httpx
import pytest
from helpers.server import raw_request

pytestmark = pytest.mark.server


def crash(server, route: str) -> None:
    """Send ``route`` and wait until the process serving it dies (the
    connection closes without an answer)."""
    answer = raw_request(server.port, f"GET {route} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                         timeout=10)
    assert answer == b"", answer


def answers_during_restart(server, seconds: float = 1.0) -> tuple[int, float]:
    """New connections, one after another, for ``seconds`` after a crash:
    every one must be answered (none refused or reset); the count, and when
    the first answer came."""
    started = time.monotonic()
    first = None
    count = 0
    while time.monotonic() - started < seconds:
        response = httpx.get(server.url + "/", timeout=10, headers={"Connection": "close"})
        assert response.status_code == 200
        first = first if first is not None else time.monotonic() - started
        count += 1
    return count, first


# Under `make test-asan` AddressSanitizer takes the fault first and aborts
# (abort_on_error=1): a segfault is logged as SIGABRT there.
SEGFAULT = "killed by SIGABRT" if "libasan" in os.environ.get("LD_PRELOAD", "") else "SIGSEGV"


@pytest.mark.parametrize("route, death", [("/segfault", SEGFAULT), ("/abort", "SIGABRT"),
                                          ("/exit", "exited with code 1")])
def test_a_crashing_route_costs_a_restart(start_server, worker_kind, route, death) -> None:
    # one process of the process kind, so that the crash and `before` agree on it
    workers = "1" if worker_kind == "process" else "2"
    server = start_server("crashing:app", "--workers", workers, "--no-access-log")
    before = httpx.get(server.url + "/").json()["pid"]
    crash(server, route)
    count, first = answers_during_restart(server)
    assert count >= 1 and first < 5
    assert httpx.get(server.url + "/").json()["pid"] != before
    line = server.wait_for_log(death)
    assert f"(pid {before})" in line and "starting another in 0.0 s" in line
    server.wait_for_log("ready in")
    if route != "/exit":
        # faulthandler, in every thread the app runs on: the crashing route's frame
        assert 'crashing.py", line' in server.wait_for_log('crashing.py", line')
    assert server.stop() == 0


@pytest.mark.kinds("interpreter")
def test_restarts_back_off_while_the_process_keeps_dying_young(start_server) -> None:
    server = start_server("crashing:app", "--workers", "1", "--no-access-log")
    for _ in range(3):
        crash(server, "/segfault")
        httpx.get(server.url + "/", timeout=10)  # waits in the backlog meanwhile
    delays = [line.rsplit("starting another in ", 1)[1] for line in server.lines
              if SEGFAULT in line and "killed by" in line]
    assert delays == ["0.0 s", "0.5 s", "1.0 s"]
    assert server.stop() == 0


@pytest.mark.kinds("interpreter")
def test_without_a_supervisor_a_crash_ends_the_server(start_server) -> None:
    server = start_server("crashing:app", "--no-supervisor")
    crash(server, "/segfault")
    assert server.wait_exit(10) == -(signal.SIGSEGV if SEGFAULT == "SIGSEGV" else signal.SIGABRT)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1",
                                                                          server.port), 1):
        pass


@pytest.mark.kinds("interpreter", "thread")
def test_the_supervisor_passes_the_stop_on_and_exits_with_the_servers_code(start_server) -> None:
    server = start_server("basic:app", "--workers", "2")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/hello").status_code == 200
    assert server.stop() == 0
    assert server.log().count("received SIGTERM: stopping gracefully") == 1


def test_an_app_that_no_longer_loads_after_a_crash_stops_the_server(start_server,
                                                                    tmp_path) -> None:
    (tmp_path / "fragile.py").write_text("from crashing import app\n")
    server = start_server("fragile:app", "--app-dir", str(tmp_path), "--workers", "1")
    (tmp_path / "fragile.py").write_text("raise RuntimeError('broken after the crash')\n")
    crash(server, "/segfault")
    assert server.wait_exit(20) == 3  # as at start-up, not restarts for ever
    assert "broken after the crash" in server.log()
