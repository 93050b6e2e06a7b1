"""How fast subserve recovers: the figures of the recovery work, in one run.

Runs in: the benchmark driver (outside the server), with the project's
.venv python (`make bench-recovery`):

- crash -> first good answer: a route segfaults the serving process; the
  time from the crashed connection's end to the first 200 on a new
  connection, median of --repeat, for a hello app and a Django page;
- stuck -> capacity back: one worker with one thread, a route blocked in
  C under --timeout 1; the time from the request's start to the first 200
  a second client gets;
- the supervisor's PSS, and the serving process's, for the hello app.

Every server is started on a free 127.0.0.1 port and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 30) -> int:
    """The status of GET path on a new connection; 0 when it ends without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


class Server:
    def __init__(self, wrapped: str, *args: str) -> None:
        self.port = free_port()
        env = {**os.environ, "CRASHABLE_APP": wrapped}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "subserve", "crashable:app", "--bind",
             f"127.0.0.1:{self.port}", "--no-access-log", *args],
            cwd=APPS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(self.port, "/", timeout=5) == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"subserve {wrapped} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def time_to_recover(server: Server) -> float:
    """Segfault the serving process; seconds until a new connection gets a 200."""
    assert get(server.port, "/__segfault__") == 0
    crashed = time.monotonic()
    while get(server.port, "/") != 200:
        pass
    return time.monotonic() - crashed


def crash_figures(wrapped: str, repeat: int) -> list[float]:
    server = Server(wrapped, "--workers", "2")
    try:
        times = []
        for _ in range(repeat):
            times.append(time_to_recover(server))
            time.sleep(11)  # past YOUNG: every restart is an immediate one
        return times
    finally:
        server.stop()


def stuck_figure() -> float:
    server = Server("hello:app", "--workers", "1", "--threads", "1", "--timeout", "1",
                    "--graceful-timeout", "2")
    try:
        started = time.monotonic()
        assert get(server.port, "/__sleep__") == 504
        assert get(server.port, "/") == 200  # waits in the backlog for the successor
        return time.monotonic() - started
    finally:
        server.stop()


def pss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_figures() -> tuple[float, float]:
    server = Server("hello:app", "--workers", "2")
    try:
        with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as f:
            child = int(f.read().split()[0])
        return pss_mib(server.proc.pid), pss_mib(child)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print("| figure | median | min | max |\n| --- | --: | --: | --: |")
    for name, wrapped in (("hello", "hello:app"), ("Django page", "django_app:app")):
        times = crash_figures(wrapped, args.repeat)
        print(f"| segfault -> first 200, {name} (n={len(times)}) | "
              f"{statistics.median(times) * 1000:.0f} ms | {min(times) * 1000:.0f} ms | "
              f"{max(times) * 1000:.0f} ms |")
    print(f"| request stuck in C -> capacity back (--timeout 1) | {stuck_figure():.2f} s | | |")
    supervisor, serving = memory_figures()
    print(f"| PSS: supervisor / serving process (hello, 2 workers) | "
          f"{supervisor:.1f} MiB / {serving:.1f} MiB | | |")


if __name__ == "__main__":
    main()
