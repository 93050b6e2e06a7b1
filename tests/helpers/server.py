"""A real subserve server as a subprocess on a free port, and raw clients for it.

Runs in: the test process (the server runs in its own process, with cwd
tests/apps so that app specs such as ``basic:app`` import from there).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

APPS = Path(__file__).resolve().parent.parent / "apps"


class HasPort(Protocol):
    port: int | None


# Every worker kind a server can run the app with (tests run under each).
KINDS = ("interpreter", "thread", "process")

# Sets RLIMIT_NOFILE, soft and hard (the server cannot raise it), then
# becomes the server: the same pid.
_WITH_NOFILE = ("import os, resource, sys; n = int(sys.argv[1]); "
                "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
                "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """A subserve subprocess; its stderr is collected line by line."""

    def __init__(self, args: list[str], port: int | None, *, pass_fds: tuple[int, ...] = (),
                 cwd: Path = APPS, env: dict[str, str] | None = None,
                 nofile: int | None = None) -> None:
        """``nofile``: the server's RLIMIT_NOFILE, soft and hard."""
        self.port = port
        self.url = f"http://127.0.0.1:{port}" if port else ""
        self.lines: list[str] = []
        self._ready = threading.Event()
        wrap = [] if nofile is None else ["-c", _WITH_NOFILE, str(nofile)]
        self.proc = subprocess.Popen(
            [sys.executable, *wrap, "-m", "subserve", *args],
            cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            pass_fds=pass_fds, env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "listening on" in line:
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60) -> None:
        if not self._ready.wait(timeout) or self.proc.poll() is not None:
            raise AssertionError("server did not start:\n" + self.log())

    def log(self) -> str:
        return "\n".join(self.lines)

    def pids(self) -> list[int]:
        """The server's processes: the supervisor and every descendant (Linux /proc)."""
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    todo += [int(p) for p in f.read().split()]
            except FileNotFoundError:
                pass  # it ended meanwhile
        return pids

    def rss_kib(self) -> int:
        """The resident memory of all the server's processes, in KiB."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (FileNotFoundError, StopIteration):
                pass
        return total

    def cpu_seconds(self) -> float:
        """User and system CPU time of all the server's processes so far, from /proc."""
        ticks = 0
        for pid in self.pids():
            try:
                fields = _proc_stat(Path(f"/proc/{pid}/stat"))
            except OSError:
                continue  # gone meanwhile
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                return self.wait_exit(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop on SIGTERM:\n" + self.log()) from None
        return self.proc.returncode

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not logged:\n" + self.log())


def _proc_stat(path: Path) -> list[str]:
    """The fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    return path.read_text().rsplit(")", 1)[1].split()


def connect(server: HasPort, timeout: float = 10) -> socket.socket:
    """A raw TCP connection to the server."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def ws_url(server: HasPort, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def raw_request(port: int, data: bytes, *, timeout: float = 5.0, read_until_close: bool = True) -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if read_until_close:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
