"""Starting, watching and stopping server processes; their CPU time and memory.

Runs in: the benchmark driver (outside the server).

Every server runs in a session of its own, so its whole process tree (a
master and its forked workers, Apache and its daemons) is found by session id
in /proc, measured as one, and killed as one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every process we started and have not reaped yet: the exit paths kill these.
LIVE: list[subprocess.Popen] = []


class ServerDown(RuntimeError):
    """The server exited or never answered: its own output says why."""


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a server in its own session, output to `log`, and remember it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session: the whole tree is findable (and killable) by
            # session id, and a Ctrl-C meant for the driver does not reach it
            # half-way through a measurement.
            start_new_session=True,
        )
    LIVE.append(proc)
    return proc


def _proc_stat(pid: str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) PIDs whose session id is `sid`: a server and all it forked."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(entry)
        if fields is not None and int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def tree_cpu_seconds(sid: int) -> float:
    """utime + stime of the live processes of a session (all their threads)."""
    ticks = 0
    for pid in session_members(sid):
        fields = _proc_stat(str(pid))
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLK_TCK


def tree_pss_kib(sid: int) -> int:
    """Proportional set size summed over a session.

    PSS, not RSS: a page shared by N processes counts 1/N in each, so the sum
    counts it once. RSS would count the pages forked workers share with their
    master (the interpreter, the imported app) once per worker.
    """
    total = 0
    for pid in session_members(sid):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
        if match:
            total += int(match.group(1))
    return total


def stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the server, SIGKILL its whole session if it is not gone after `grace` s."""
    sid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    # Wait for the tree, not just the leader: a master may exit before its
    # workers. The leader is not reaped yet (we never waited on it), so its pid
    # cannot be reused while we look for its session.
    deadline = time.monotonic() + grace
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in session_members(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:  # not a session leader (wrk), or it ignored everything
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc in LIVE:
        LIVE.remove(proc)


def kill_everything() -> None:
    """Last line of defence on any exit: no server outlives the driver."""
    for proc in list(LIVE):
        stop(proc, grace=2.0)


def free_port() -> int:
    # The kernel picks an unused port; there is a small window before the
    # server binds it, which is acceptable on a machine we own.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_until_answering(proc: subprocess.Popen, url: str, timeout: float) -> tuple[int, bytes]:
    """The first full HTTP answer; raises ServerDown if the server dies or stays silent."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDown(f"exited with code {proc.returncode} before answering")
        try:
            return http_get(url, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        except (urllib.error.URLError, OSError) as err:
            last_error = str(getattr(err, "reason", err))
            time.sleep(0.1)
    raise ServerDown(f"did not answer within {timeout:g} s ({last_error})")


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
