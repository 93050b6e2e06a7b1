"""Run subserve and its peers side by side under wrk; print and save a Markdown table.

Runs in: the benchmark driver (outside the server).

Stdlib only. bench/install.sh makes the venv with wrk's peers and subserve;
run this with that venv's python:

    bench/install.sh && bench/.venv/bin/python bench/run.py [--quick]

For each scenario and server: start the server fresh on a free 127.0.0.1
port, wait until it answers, check the body, warm up, run wrk, and measure the
server's CPU time per request and its memory (PSS), then stop it. A server that
fails at any step is reported as such and the run goes on; every process this
script starts is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The servers import the apps as top-level modules (hello:app) from this
# directory, and run in it. Not from the repo root: that would put the repo's
# subserve/ package ahead of the installed one on the workers' sys.path.
APPS = HERE / "apps"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every process we started and have not reaped yet: the exit paths kill these.
_LIVE: list[subprocess.Popen] = []


class ServerDown(RuntimeError):
    """The server exited or never answered: its own output says why."""


# --------------------------------------------------------------------------
# What is run


@dataclass
class Server:
    """One server configuration inside a scenario."""

    name: str  # the product: "subserve", "gunicorn", ...
    label: str  # what the table shows: "subserve --workers 2"
    command: Callable[[int], list[str]]  # port -> argv
    env: dict[str, str] = field(default_factory=dict)
    skip: str | None = None  # reason not to run it (peer not installed)


@dataclass
class Scenario:
    key: str
    title: str
    path: str  # URL path wrk and the body check request
    expected: bytes
    servers: list[Server]


@dataclass
class Result:
    scenario: str
    server: str
    label: str
    status: str = "ok"  # "ok", "skipped", or "failed"
    detail: str = ""  # why it was skipped or failed
    command: str = ""
    wrk_command: str = ""
    requests: int | None = None
    seconds: float | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx_3xx: int | None = None
    socket_errors: dict[str, int] | None = None
    cpu_us_per_request: float | None = None
    pss_mib: float | None = None
    processes: int | None = None
    log_tail: str = ""


@dataclass
class Options:
    venv: Path
    duration: int
    warmup: int
    connections: int
    threads: int
    startup_timeout: float
    stop_grace: float
    only: list[str]
    cpu_iterations: int


# --------------------------------------------------------------------------
# Processes


def spawn(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    new_session: bool = False,
) -> subprocess.Popen:
    """Start a process and remember it, so that every exit path can kill it."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the child's exit
    try:
        proc = subprocess.Popen(
            argv,
            cwd=APPS,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            # A server gets its own session: its whole process tree is then
            # findable (and killable) by session id, and a Ctrl-C meant for
            # this script does not reach it half-way through a measurement.
            start_new_session=new_session,
        )
    finally:
        if log:
            out.close()
    _LIVE.append(proc)
    return proc


def _proc_stat(pid: str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def session_members(sid: int, *, include_zombies: bool = False) -> list[int]:
    """PIDs whose session id is `sid`: a server and everything it forked."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(entry)
        if fields is None or int(fields[3]) != sid:
            continue
        if fields[0] == "Z" and not include_zombies:
            continue
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
    """Proportional set size summed over a session: shared pages counted once overall."""
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
    if proc in _LIVE:
        _LIVE.remove(proc)


def kill_everything() -> None:
    """Last line of defence on any exit: no server outlives the driver."""
    for proc in list(_LIVE):
        stop(proc, grace=2.0)


def _interrupt(signum: int, frame: object) -> None:
    # Turn SIGTERM/SIGHUP into the same path as Ctrl-C, so `finally` blocks run.
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------
# Talking to servers


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
    """The first full HTTP answer; raises RuntimeError if the server dies or stays silent."""
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


# --------------------------------------------------------------------------
# wrk


def wrk_argv(opts: Options, url: str, seconds: int) -> list[str]:
    return ["wrk", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds}s", "--latency", url]


def run_wrk(argv: list[str], seconds: int) -> str:
    """Run wrk to completion and return its stdout; raises RuntimeError on failure."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        _LIVE.append(proc)
        try:
            proc.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise RuntimeError("wrk did not finish in time") from None
        finally:
            # Reached on a timeout and on Ctrl-C/SIGTERM alike: wrk must not
            # outlive this call, so kill it before forgetting it.
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            _LIVE.remove(proc)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {text.strip()[-300:]}")
    return text


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _latency_ms(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)] if match else None


def parse_wrk(text: str) -> dict[str, object]:
    """The numbers of a `wrk --latency` report. Missing lines mean zero errors."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rps:
        raise RuntimeError(f"cannot parse wrk output: {text.strip()[-300:]}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests": int(total.group(1)),
        "seconds": float(total.group(2)) * _TIME_UNITS_MS[total.group(3)] / 1e3,
        "rps": float(rps.group(1)),
        "p50_ms": _latency_ms(text, "50"),
        "p99_ms": _latency_ms(text, "99"),
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "socket_errors": dict(
            zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
        )
        if sock
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


# --------------------------------------------------------------------------
# One measurement


def measure(scenario: Scenario, server: Server, opts: Options, logdir: Path) -> Result:
    result = Result(scenario.key, server.name, server.label)
    if server.skip:
        result.status, result.detail = "skipped", server.skip
        return result
    port = free_port()
    argv = server.command(port)
    url = f"http://{HOST}:{port}{scenario.path}"
    result.command = shlex.join(argv)
    log = logdir / f"{scenario.key}-{re.sub(r'[^A-Za-z0-9]+', '-', server.label)}.log"
    env = {**os.environ, **server.env}
    print(f"[{scenario.key}] {server.label}: {result.command}", file=sys.stderr, flush=True)
    try:
        proc = spawn(argv, env=env, log=log, new_session=True)
    except OSError as err:
        result.status, result.detail = "failed", f"cannot start: {err}"
        _print_progress(result)
        return result
    try:
        _check_and_load(proc, scenario, url, opts, result)
    except ServerDown as err:
        result.status, result.detail = "failed", str(err)
        last = [line for line in log_tail(log).splitlines() if line.strip()][-1:]
        if last:  # the server's last word is usually the reason (a traceback's last line)
            result.detail += f": {last[0].strip()}"
    except RuntimeError as err:  # wrong body, wrk failed: our own, already worded
        result.status, result.detail = "failed", str(err)
    except Exception as err:  # noqa: BLE001 - one broken server must not end the run
        result.status, result.detail = "failed", f"{type(err).__name__}: {err}"
    finally:
        stop(proc, grace=opts.stop_grace)
        if result.status == "failed":
            result.log_tail = log_tail(log)
    _print_progress(result)
    return result


def _check_and_load(
    proc: subprocess.Popen, scenario: Scenario, url: str, opts: Options, result: Result
) -> None:
    """Body check, warm-up, measured run. Fills `result`; raises RuntimeError on failure."""
    status, body = wait_until_answering(proc, url, opts.startup_timeout)
    if status != 200:
        raise RuntimeError(f"HTTP {status} on the check request: {body[:80]!r}")
    if body != scenario.expected:
        raise RuntimeError(f"wrong body: {body[:80]!r}, expected {scenario.expected[:80]!r}")
    if opts.warmup > 0:
        run_wrk(wrk_argv(opts, url, opts.warmup), opts.warmup)
    argv = wrk_argv(opts, url, opts.duration)
    result.wrk_command = shlex.join(argv)
    cpu_before = tree_cpu_seconds(proc.pid)
    text = run_wrk(argv, opts.duration)
    cpu_after = tree_cpu_seconds(proc.pid)
    # Memory right after the load, while every worker is still up and warm.
    pss = tree_pss_kib(proc.pid)
    result.processes = len(session_members(proc.pid))
    if proc.poll() is not None:
        raise ServerDown(f"server exited with code {proc.returncode} during the run")
    for key, value in parse_wrk(text).items():
        setattr(result, key, value)
    if result.requests:
        result.cpu_us_per_request = (cpu_after - cpu_before) / result.requests * 1e6
    result.pss_mib = pss / 1024


def _print_progress(result: Result) -> None:
    if result.status == "ok":
        print(
            f"    {result.rps:,.0f} req/s, p99 {_fmt(result.p99_ms, 2)} ms, "
            f"{_fmt(result.cpu_us_per_request, 1)} us CPU/req, {_fmt(result.pss_mib, 1)} MiB",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(f"    {result.status}: {result.detail}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Scenarios


def read_peer_status(venv: Path) -> dict[str, tuple[str, str]]:
    """bench/install.sh's record: name -> (ok|skipped, version or reason)."""
    status: dict[str, tuple[str, str]] = {}
    try:
        lines = (venv / "peers.tsv").read_text().splitlines()
    except OSError:
        return status
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            status[parts[0]] = (parts[1], parts[2])
    return status


def skip_reason(name: str, executable: Path, peers: dict[str, tuple[str, str]]) -> str | None:
    state, detail = peers.get(name, ("", ""))
    if state == "skipped":
        return f"not installed: {detail}"
    if not executable.exists():
        return f"not installed ({executable} missing; run bench/install.sh)"
    return None


def build_scenarios(opts: Options) -> list[Scenario]:
    from bench.apps import cpu, hello  # the driver imports the apps only to know the bodies

    bin_dir = opts.venv / "bin"
    peers = read_peer_status(opts.venv)
    python = bin_dir / "python"
    cpu_env = {cpu.ENV_ITERS: str(opts.cpu_iterations)}

    def subserve(app: str, workers: int, env: dict[str, str] | None = None) -> Server:
        exe = bin_dir / "subserve"
        return Server(
            "subserve",
            f"subserve --workers {workers}",
            lambda port: [
                str(exe),
                app,
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                str(workers),
                "--no-access-log",
                "--app-dir",
                str(APPS),
            ],
            env or {},
            skip_reason("subserve", exe, peers),
        )

    def gunicorn(app: str, env: dict[str, str] | None = None) -> Server:
        exe = bin_dir / "gunicorn"
        return Server(
            "gunicorn",
            "gunicorn -w 2 -k gthread --threads 4",
            lambda port: [
                str(exe),
                "-w",
                "2",
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"{HOST}:{port}",
                "--chdir",
                str(APPS),
                "--log-level",
                "warning",
                app,
            ],
            env or {},
            skip_reason("gunicorn", exe, peers),
        )

    def granian(app: str) -> Server:
        exe = bin_dir / "granian"
        return Server(
            "granian",
            "granian --interface wsgi --workers 2",
            lambda port: [
                str(exe),
                "--interface",
                "wsgi",
                "--workers",
                "2",
                "--host",
                HOST,
                "--port",
                str(port),
                "--working-dir",
                str(APPS),
                "--log-level",
                "warning",
                app,
            ],
            {},
            skip_reason("granian", exe, peers),
        )

    def bjoern(app: str) -> Server:
        launcher = APPS / "bjoern_serve.py"
        reason = skip_reason("bjoern", python, peers)
        return Server(
            "bjoern",
            "bjoern (1 thread)",
            lambda port: [str(python), str(launcher), app, HOST, str(port)],
            {},
            reason,
        )

    hello_app, cpu_app = "hello:app", "cpu:app"
    return [
        Scenario(
            "hello",
            "Hello world (WSGI)",
            "/",
            hello.BODY,
            [
                subserve(hello_app, 2),
                gunicorn(hello_app),
                granian(hello_app),
                bjoern(hello_app),
            ],
        ),
        Scenario(
            "cpu",
            f"CPU-bound ~2 ms (WSGI, {opts.cpu_iterations} iterations)",
            "/",
            cpu.body_for(opts.cpu_iterations),
            [
                subserve(cpu_app, 1, cpu_env),
                subserve(cpu_app, 2, cpu_env),
                gunicorn(cpu_app, cpu_env),
            ],
        ),
    ]


def selected(scenario: Scenario, server: Server, only: list[str]) -> bool:
    key = f"{scenario.key}/{server.label}"
    return not only or any(word in key for word in only)


# --------------------------------------------------------------------------
# Report


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def machine_info(venv: Path) -> dict[str, str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "memory": f"{int(mem_kib.group(1)) / 1024 / 1024:.1f} GiB" if mem_kib else "unknown",
        "wrk": wrk_version(),
        **venv_versions(venv),
    }


def wrk_version() -> str:
    # `wrk -v` prints its version then usage, and exits non-zero.
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def venv_versions(venv: Path) -> dict[str, str]:
    """Python and peer versions as the servers see them: asked of the venv's own python."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "v = {'python': sys.version.replace(chr(10), ' ')}\n"
        "for name in ('subserve', 'gunicorn', 'granian', 'bjoern'):\n"
        "    try: v[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: v[name] = 'not installed'\n"
        "print(json.dumps(v))\n"
    )
    try:
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        versions = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"python": "unknown (bench venv missing)"}
    subserve = read_peer_status(venv).get("subserve")
    if subserve and subserve[0] == "ok":
        versions["subserve"] = subserve[1]  # includes the git revision it was built from
    return versions


def markdown(
    results: list[Result],
    scenarios: list[Scenario],
    info: dict[str, str],
    opts: Options,
    started: dt.datetime,
) -> str:
    out = [
        f"# subserve benchmark, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']}, "
        f"Linux {info['kernel']}",
        f"- Python (bench venv): {info.get('python')}",
        "- Versions: "
        + ", ".join(
            f"{name} {info.get(name, '?')}"
            for name in ("subserve", "gunicorn", "granian", "bjoern")
        ),
        f"- Load: `{info['wrk']}`, `wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s "
        f"--latency URL` after a {opts.warmup} s warm-up with the same settings. wrk shares the "
        f"machine's {info['nproc']} cores with the server.",
        "- CPU/req: utime+stime of the server's whole process tree during the measured run, "
        "divided by the requests served (idle overhead included).",
        "- PSS: proportional set size summed over the server's processes, right after the run.",
        "",
    ]
    for scenario in scenarios:
        rows = [r for r in results if r.scenario == scenario.key]
        if not rows:
            continue
        out += [f"## {scenario.title}", "", _table(rows), ""]
        out += _speedup_note(rows)
    out += _commands(results)
    out += _failures(results)
    return "\n".join(out).rstrip() + "\n"


def _table(rows: Iterable[Result]) -> str:
    lines = [
        "| server | status | req/s | p50 ms | p99 ms | non-2xx/3xx | socket errors "
        "| CPU µs/req | PSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        status = r.status if r.status == "ok" else f"**{r.status}**: {_cell(r.detail)}"
        errors = sum(r.socket_errors.values()) if r.socket_errors else None
        lines.append(
            f"| {r.label} | {status} | {_fmt(r.rps, 0)} | {_fmt(r.p50_ms, 2)} "
            f"| {_fmt(r.p99_ms, 2)} | {_fmt(r.non_2xx_3xx, 0)} | {_fmt(errors, 0)} "
            f"| {_fmt(r.cpu_us_per_request, 1)} | {_fmt(r.pss_mib, 1)} |"
        )
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A table cell is one line without pipes; the full text goes under "Failures".
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 120 else text[:117] + "..."


def _speedup_note(rows: list[Result]) -> list[str]:
    by_label = {r.label: r for r in rows if r.status == "ok"}
    one, two = by_label.get("subserve --workers 1"), by_label.get("subserve --workers 2")
    if not (one and two and one.rps):
        return []
    return [
        f"subserve speed-up, 2 workers over 1: **{two.rps / one.rps:.2f}x** "
        "(2 cores, shared with wrk).",
        "",
    ]


def _commands(results: list[Result]) -> list[str]:
    out = ["## Command lines", ""]
    for r in results:
        if r.command:
            out.append(f"- {r.scenario} / {r.label}: `{r.command}`")
    return out + [""]


def _failures(results: list[Result]) -> list[str]:
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return []
    out = ["## Failures", ""]
    for r in failed:
        out += [f"### {r.scenario} / {r.label}", "", r.detail, ""]
        if r.log_tail:
            out += ["Server output (last lines):", "", "```", r.log_tail, "```", ""]
    return out


def write_outputs(
    md: str,
    results: list[Result],
    info: dict[str, str],
    opts: Options,
    md_path: Path,
    json_path: Path,
) -> None:
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(md)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "options": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()
        },
        "results": [dataclasses.asdict(r) for r in results],
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)


# --------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds of measured load (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="seconds of warm-up load (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s load, 1 s warm-up")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only rows whose 'scenario/label' contains this (repeatable)",
    )
    p.add_argument("--venv", type=Path, default=HERE / ".venv")
    p.add_argument("--startup-timeout", type=float, default=30.0)
    p.add_argument(
        "--cpu-iterations",
        type=int,
        default=0,
        help="loop count of the CPU app (default: calibrated to ~2 ms now)",
    )
    p.add_argument("--out-dir", type=Path, default=HERE / "results")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="JSON output path (default: next to the Markdown file)",
    )
    p.add_argument("--no-write", action="store_true", help="print the table, write no files")
    return p.parse_args(argv)


def make_options(args: argparse.Namespace) -> Options:
    if args.cpu_iterations:
        os.environ["BENCH_CPU_ITERS"] = str(args.cpu_iterations)
    # Importing the CPU app calibrates it once, here, and every server then
    # gets the same count: identical work whatever the noise at their start.
    from bench.apps import cpu

    return Options(
        venv=args.venv.resolve(),
        duration=3 if args.quick else args.duration,
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        connections=args.connections,
        threads=args.threads,
        startup_timeout=args.startup_timeout,
        stop_grace=10.0,
        only=args.only,
        cpu_iterations=cpu.ITERATIONS,
    )


def run_all(scenarios: list[Scenario], opts: Options, results: list[Result]) -> None:
    with tempfile.TemporaryDirectory(prefix="subserve-bench-") as logdir:
        for scenario in scenarios:
            for server in scenario.servers:
                if selected(scenario, server, opts.only):
                    results.append(measure(scenario, server, opts, Path(logdir)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: run bench/install.sh", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))  # the apps are imported as bench.apps.NAME
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    atexit.register(kill_everything)

    started = dt.datetime.now(dt.UTC)
    opts = make_options(args)
    scenarios = build_scenarios(opts)
    info = machine_info(opts.venv)
    results: list[Result] = []
    try:
        run_all(scenarios, opts, results)
    except KeyboardInterrupt:
        kill_everything()
        print("\ninterrupted; partial results (not written):\n", file=sys.stderr)
        print(markdown(results, scenarios, info, opts, started))
        return 130
    finally:
        kill_everything()

    md = markdown(results, scenarios, info, opts, started)
    print(md)
    if not args.no_write:
        stem = f"{started:%Y-%m-%d}" + ("-quick" if args.quick else "")
        md_path = args.out_dir / f"{stem}.md"
        write_outputs(md, results, info, opts, md_path, args.json or md_path.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
