"""The server's life: startup line, listeners (TCP, UNIX, inherited fd),
app loading and its failures, threads, access log, graceful stop on SIGTERM.

Runs in: the test process (the server runs in its own process).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from helpers.server import RunningServer, free_port

EXIT_APP_LOAD = 3


def connection_refused(port: int, timeout: float = 10) -> bool:
    """True once connecting to the port is refused (the listener was closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


def failed_start(start_server, app: str, *args: str) -> tuple[int, str]:
    """Start a server that must not come up: its exit code and its log."""
    server = start_server(app, "--workers", "2", *args, ready=False)
    code = server.wait_exit(60)
    return code, server.log()


# -- graceful stop -------------------------------------------------------------


def in_flight(server: RunningServer, path: str) -> tuple[threading.Thread, dict]:
    """GET path in a thread; return once the app has started on it (announcing:app)."""
    result: dict[str, httpx.Response | Exception] = {}

    def get() -> None:
        try:
            result["response"] = httpx.get(f"{server.url}{path}", timeout=30)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=get)
    thread.start()
    server.wait_for_log(f"request started: {path.partition('?')[0]}")
    return thread, result


def test_sigterm_finishes_the_request_in_flight_then_exits_0(start_server) -> None:
    server = start_server("announcing:app", "--workers", "2")
    client, result = in_flight(server, "/sleep?1.5")

    server.signal(signal.SIGTERM)
    server.wait_for_log("received SIGTERM")
    assert connection_refused(server.port), "the listener still accepts after SIGTERM"
    assert client.is_alive(), "the slow request ended before the listener closed"

    client.join(30)
    assert "response" in result, result
    response = result["response"]
    assert response.status_code == 200
    assert response.json()["end"] - response.json()["start"] >= 1.5
    assert response.headers["connection"] == "close"  # draining: no keep-alive
    assert server.wait_exit(30) == 0
    assert "Traceback" not in server.log()


def test_sigint_stops_gracefully(start_server) -> None:
    server = start_server("basic:app", "--workers", "1")
    server.signal(signal.SIGINT)
    assert server.wait_exit(30) == 0
    assert "received SIGINT: stopping gracefully" in server.log()


@pytest.mark.kinds("interpreter")
def test_sighup_without_a_supervisor_is_ignored_and_serving_goes_on(start_server) -> None:
    server = start_server("basic:app", "--workers", "1", "--no-supervisor")
    server.signal(signal.SIGHUP)
    assert "needs the supervisor" in server.wait_for_log("received SIGHUP: ignored")
    assert server.proc.poll() is None
    assert httpx.get(f"{server.url}/hello").text == "Hello, world!"


def test_graceful_timeout_expiring_exits_1(start_server, worker_kind: str) -> None:
    server = start_server("announcing:app", "--workers", "1", "--graceful-timeout", "0.5")
    client, result = in_flight(server, "/sleep?3")
    server.signal(signal.SIGTERM)
    assert server.wait_exit(30) == 1
    client.join(30)
    assert "error" in result  # cut off: no response
    log = server.log()
    assert "1 request(s) still running" in log
    stuck = "1 worker interpreter(s)" if worker_kind == "interpreter" else "1 worker(s)"
    assert f"{stuck} did not stop" in log, log
    assert "still running after 0.5 s" in log, log  # the timeout as configured


# -- app load failures -------------------------------------------------------


def test_extension_refusing_subinterpreters_is_named_once(start_server) -> None:
    code, log = failed_start(start_server, "refuses:app", "--worker-kind", "interpreter")
    assert code == EXIT_APP_LOAD, log
    # the module, and the distribution to upgrade or drop, with its version
    assert re.search(r"httptools [\d.]+ \(module httptools\.parser\.parser\) does not support "
                     r"subinterpreters", log), log
    assert log.count("does not support subinterpreters") == 1, log  # not one per worker
    assert log.count("Traceback") <= 1, log
    assert "listening on" not in log
    assert "--worker-kind auto" in log  # what to do instead
    assert "Exception ignored" not in log, log


@pytest.mark.kinds("auto")
def test_auto_serves_an_app_that_refuses_subinterpreters_in_processes(start_server) -> None:
    """The default kind: a refusal switches to forked processes, said in one line."""
    server = start_server("refuses:app", "--workers", "2")
    assert httpx.get(server.url + "/").text == "unreachable: httptools cannot load here"
    line = server.wait_for_log("does not support subinterpreters")
    assert re.search(r"httptools [\d.]+ \(module httptools\.parser\.parser\) does not support "
                     r"subinterpreters: serving refuses:app with worker kind 'process'", line), line
    assert "2 worker processes ready" in server.wait_for_log("listening on")
    assert server.stop() == 0
    assert "Exception ignored" not in server.log() and "Traceback" not in server.log()


def test_app_raising_at_import_exits_3_with_the_message(start_server) -> None:
    code, log = failed_start(start_server, "broken:app")
    assert code == EXIT_APP_LOAD, log
    assert "broken.py refuses to import: configuration missing" in log
    assert "RuntimeError" in log
    assert log.count("Traceback") == 1, log  # one report, not one per worker
    assert "listening on" not in log


def test_missing_module_exits_3_with_a_clear_message(start_server) -> None:
    code, log = failed_start(start_server, "no_such_module_here:app")
    assert code == EXIT_APP_LOAD, log
    assert "could not import module 'no_such_module_here'" in log
    assert "Traceback" not in log


def test_missing_attribute_exits_3_with_a_clear_message(start_server) -> None:
    code, log = failed_start(start_server, "basic:no_such_app")
    assert code == EXIT_APP_LOAD, log
    assert "module 'basic' has no attribute 'no_such_app'" in log
    assert "Traceback" not in log


# -- listeners ---------------------------------------------------------------


def test_port_in_use_exits_2(start_server) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = start_server("basic:app", "--bind", f"127.0.0.1:{port}", ready=False)
        assert server.wait_exit(30) == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in server.log()


def test_fd_that_is_not_a_socket_exits_2() -> None:
    read_end, write_end = os.pipe()
    try:
        server = RunningServer(["basic:app", "--fd", str(read_end)], None, pass_fds=(read_end,))
        assert server.wait_exit(30) == 2
    finally:
        os.close(read_end)
        os.close(write_end)
    assert f"--fd {read_end} is not a usable socket" in server.log()


def test_unix_socket_bind(start_server, tmp_path: Path) -> None:
    path = tmp_path / "subserve.sock"
    server = start_server("basic:app", "--workers", "1", "--bind", f"unix:{path}")
    assert f"unix:{path}" in server.wait_for_log("listening on")
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://localhost") as client:
        assert client.get("/hello").text == "Hello, world!"
        environ = client.get("/environ").json()
    assert environ["REMOTE_ADDR"] == ""
    assert httpx.get(f"{server.url}/hello").text == "Hello, world!"  # the TCP bind too


def test_two_binds_serve_on_both_ports(start_server) -> None:
    second = free_port()
    server = start_server("basic:app", "--workers", "1", "--bind", f"127.0.0.1:{second}")
    line = server.wait_for_log("listening on")
    assert f"http://127.0.0.1:{server.port}" in line
    assert f"http://127.0.0.1:{second}" in line
    for port in (server.port, second):
        environ = httpx.get(f"http://127.0.0.1:{port}/environ").json()
        assert environ["SERVER_PORT"] == str(port)


def test_inherited_listening_fd() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    fd = listener.fileno()
    server = RunningServer(["basic:app", "--workers", "1", "--fd", str(fd)], port, pass_fds=(fd,))
    try:
        server.wait_ready()
        listener.close()  # the server's inherited copy is the one that serves
        assert f"http://127.0.0.1:{port}" in server.wait_for_log("listening on")
        assert httpx.get(f"{server.url}/hello").text == "Hello, world!"
    finally:
        listener.close()
        assert server.stop() == 0


# -- threads, factory, app dir -------------------------------------------------


def test_threads_in_one_interpreter_overlap(start_server) -> None:
    server = start_server("basic:app", "--threads", "4", "--workers", "1")
    barrier = threading.Barrier(4)

    def sleep(_: int) -> dict:
        barrier.wait()
        response = httpx.get(f"{server.url}/sleep?0.5", timeout=30)
        assert response.status_code == 200
        return response.json()

    with ThreadPoolExecutor(4) as pool:
        stamps = list(pool.map(sleep, range(4)))
    assert max(s["start"] for s in stamps) < min(s["end"] for s in stamps), stamps
    assert len({s["interp"] for s in stamps}) == 1


def test_factory(start_server) -> None:
    server = start_server("factory_app:create_app", "--factory", "--workers", "1")
    response = httpx.get(f"{server.url}/")
    assert response.status_code == 200
    assert response.text == "made by create_app"


def test_app_dir(start_server, tmp_path: Path) -> None:
    app_dir = tmp_path / "elsewhere"
    app_dir.mkdir()
    (app_dir / "appdir_only_module.py").write_text(textwrap.dedent("""\
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"served from --app-dir"]
    """))
    server = start_server("appdir_only_module:app", "--app-dir", str(app_dir), "--workers", "1")
    assert httpx.get(f"{server.url}/").text == "served from --app-dir"


# -- log lines ---------------------------------------------------------------

READY = r" ready in \d+(?:\.\d+)? s{}, listening on http://127\.0\.0\.1:(?P<port>\d+)$"
STARTUP = {  # what is ready, by worker kind; count: how many
    "interpreter": re.compile(r"(?P<count>\d+) interpreters?" + READY.format("")),
    "thread": re.compile(r"the main interpreter" + READY.format(
        r" \(worker kind thread: (?P<count>\d+) threads? or one event loop\)")),
    "process": re.compile(r"(?P<count>\d+) worker process(?:es)?" + READY.format(
        r" \(worker kind process, 1 thread or one event loop each\)")),
}


@pytest.mark.parametrize("workers", [1, 2])
def test_startup_line(start_server, workers: int, worker_kind: str) -> None:
    server = start_server("basic:app", "--workers", str(workers))
    match = STARTUP[worker_kind].search(server.wait_for_log("listening on"))
    assert match, server.log()
    # the thread kind has one worker in main (--threads of them), whatever --workers says
    assert int(match["count"]) == (1 if worker_kind == "thread" else workers)
    assert int(match["port"]) == server.port


def access_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"GET /' in line]


def test_access_log_one_line_per_request(start_server) -> None:
    server = start_server("basic:app", "--workers", "2")
    for n in range(3):
        assert httpx.get(f"{server.url}/hello?n={n}").status_code == 200
    assert httpx.get(f"{server.url}/nowhere").status_code == 404
    server.wait_for_log("/nowhere")  # an idle worker writes out its batched lines
    assert server.stop() == 0
    lines = access_lines(server.log())
    assert len(lines) == 4, server.log()
    for n in range(3):
        [line] = [line for line in lines if f"/hello?n={n} " in line]
        assert re.search(rf'127\.0\.0\.1 - "GET /hello\?n={n} HTTP/1\.1" 200 13\b', line), line
    [missing] = [line for line in lines if "/nowhere" in line]
    assert re.search(r'127\.0\.0\.1 - "GET /nowhere HTTP/1\.1" 404 9\b', missing), missing


def test_no_access_log(start_server) -> None:
    server = start_server("basic:app", "--workers", "2", "--no-access-log")
    for n in range(3):
        assert httpx.get(f"{server.url}/hello?n={n}").status_code == 200
    assert server.stop() == 0
    assert access_lines(server.log()) == [], server.log()
