"""SIGHUP reloads the app: a successor for each serving process imports it
afresh and takes over once ready; a successor that cannot load it leaves
the old process serving.

Runs in: the test process (the server runs in its own process).
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.server

APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"{version}"]
'''


def write_app(directory, version: str) -> None:
    """The versions differ in length, so the files in size: a .pyc is checked
    against its source's mtime in whole seconds and its size, and these
    writes come within a second of each other."""
    (directory / "versioned.py").write_text(APP.format(version=version))


def test_sighup_serves_the_new_code_without_failing_a_request(start_server, tmp_path) -> None:
    write_app(tmp_path, "v1")
    server = start_server("versioned:app", "--app-dir", str(tmp_path), "--workers", "2",
                          "--no-access-log")
    assert httpx.get(server.url).text == "v1"
    answers, stop = [], threading.Event()

    def keep_asking() -> None:  # a new connection each time, all through the reload
        while not stop.is_set():
            try:
                answers.append(httpx.get(server.url, timeout=10).text)
            except httpx.HTTPError as exc:  # recorded: the assertion below shows it
                answers.append(f"{type(exc).__name__}: {exc}")

    client = threading.Thread(target=keep_asking)
    client.start()
    try:
        write_app(tmp_path, "v2.0")
        server.signal(signal.SIGHUP)
        server.wait_for_log("replaced, exited with code 0", timeout=20)
        deadline = time.monotonic() + 10
        while answers[-1:] != ["v2.0"] and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        client.join(15)
    assert set(answers) <= {"v1", "v2.0"}, (set(answers), server.log())
    assert answers[-1] == "v2.0", (answers[-5:], server.log())
    assert httpx.get(server.url).text == "v2.0"
    assert server.stop() == 0


def test_a_reload_that_cannot_load_the_app_keeps_the_old_code(start_server, tmp_path) -> None:
    write_app(tmp_path, "v1")
    server = start_server("versioned:app", "--app-dir", str(tmp_path), "--workers", "1")
    (tmp_path / "versioned.py").write_text("raise RuntimeError('broken on purpose')\n")
    server.signal(signal.SIGHUP)
    line = server.wait_for_log("could not load the app", timeout=20)
    assert "serves on" in line and "broken on purpose" in server.log()
    assert httpx.get(server.url).text == "v1"
    assert server.stop() == 0


def test_a_second_sighup_during_a_reload_is_queued_not_lost(start_server, tmp_path) -> None:
    write_app(tmp_path, "v1")
    server = start_server("versioned:app", "--app-dir", str(tmp_path), "--workers", "1")
    write_app(tmp_path, "v2.0")
    server.signal(signal.SIGHUP)
    server.wait_for_log("is reloaded")
    write_app(tmp_path, "v3.0.0")  # changed again while the first reload is under way
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while server.log().count("replaced, exited") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log().count("received SIGHUP: reloading") == 2
    assert httpx.get(server.url).text == "v3.0.0"
    assert server.stop() == 0
