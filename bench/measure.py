"""One measurement: start a server fresh, check its body, load it with wrk, stop it.

Runs in: the benchmark driver (outside the server).

Per (scenario, server, workers): a warm-up run, then `repeat` measured wrk
runs against the same server process. req/s is the median run's; its p50 and
p99 are reported with it. Errors are summed over all measured runs, so a
flaky server cannot hide behind a clean median. CPU time is the server tree's
utime+stime over the median run; PSS is taken once, after the last run, while
every worker is still up and warm.

The memory pass (phase "memory") starts the server the same way and warms it
up, then takes its PSS and stops it: no measured runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.scenarios import Scenario
from bench.servers import APPS, Launch, Peer


@dataclass
class WrkSettings:
    duration: int  # seconds per measured run
    warmup: int  # seconds of warm-up load (0: none)
    repeat: int  # measured runs; the median is reported
    connections: int
    threads: int  # wrk threads


@dataclass
class Run:
    """One wrk run and the server CPU it cost."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    non_2xx_3xx: int
    socket_errors: dict[str, int]  # connect, read, write, timeout
    cpu_seconds: float


@dataclass
class Result:
    scenario: str
    server: str
    workers: int
    phase: str = "load"  # "load": measured wrk runs; "memory": PSS after the warm-up only
    status: str = "ok"  # "ok", "skipped", or "failed"
    detail: str = ""  # why it was skipped or failed
    command: str = ""
    wrk_command: str = ""
    runs: list[Run] = field(default_factory=list)
    rps: float | None = None  # of the median run
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx_3xx: int | None = None  # over all measured runs
    socket_errors: int | None = None
    cpu_us_per_request: float | None = None
    pss_mib: float | None = None
    processes: int | None = None
    kind: str = ""  # the worker kind the server's log names (subserve's), and why
    log_tail: str = ""

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the runs' req/s: how much the noise moved them."""
        rates = [run.rps for run in self.runs]
        if len(rates) < 2 or not self.rps:
            return None
        return (max(rates) - min(rates)) / self.rps


# --------------------------------------------------------------------------
# wrk


def wrk_argv(settings: WrkSettings, url: str, seconds: int) -> list[str]:
    return [
        *("wrk", f"-t{settings.threads}", f"-c{settings.connections}", f"-d{seconds}s"),
        *("--latency", url),
    ]


def run_wrk(argv: list[str], seconds: int) -> str:
    """Run wrk to completion and return its stdout; raises RuntimeError on failure."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        procs.LIVE.append(proc)
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
            procs.LIVE.remove(proc)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {text.strip()[-300:]}")
    return text


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _latency_ms(text: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)] if match else None


_SOCKET_ERRORS = ("connect", "read", "write", "timeout")


def parse_wrk(text: str, cpu_seconds: float) -> Run:
    """The numbers of a `wrk --latency` report. Missing error lines mean zero."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rps:
        raise RuntimeError(f"cannot parse wrk output: {text.strip()[-300:]}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Run(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _TIME_UNITS_MS[total.group(3)] / 1e3,
        rps=float(rps.group(1)),
        p50_ms=_latency_ms(text, "50"),
        p99_ms=_latency_ms(text, "99"),
        non_2xx_3xx=int(bad.group(1)) if bad else 0,
        socket_errors=dict(zip(_SOCKET_ERRORS, map(int, sock.groups()), strict=True))
        if sock
        else dict.fromkeys(_SOCKET_ERRORS, 0),
        cpu_seconds=cpu_seconds,
    )


def measured_run(proc: subprocess.Popen, argv: list[str], seconds: int) -> Run:
    before = procs.tree_cpu_seconds(proc.pid)
    text = run_wrk(argv, seconds)
    return parse_wrk(text, procs.tree_cpu_seconds(proc.pid) - before)


# --------------------------------------------------------------------------
# One (scenario, server, workers)


def measure(
    scenario: Scenario,
    peer: Peer,
    workers: int,
    *,
    threads: int,
    settings: WrkSettings,
    startup_timeout: float,
    logdir: Path,
    phase: str = "load",
) -> Result:
    """One row: `phase` "load" measures wrk runs, "memory" only the PSS after the warm-up."""
    result = Result(scenario.key, peer.name, workers, phase)
    if peer.skip:
        result.status, result.detail = "skipped", peer.skip
        return result
    port = procs.free_port()
    slug = f"{phase}-{scenario.key}-{peer.name}-w{workers}"
    launch = Launch(scenario, workers, threads, settings.connections, port, logdir / slug)
    argv = peer.argv(launch)
    url = f"http://{procs.HOST}:{port}{scenario.path}"
    result.command = shlex.join(argv)
    log = logdir / f"{slug}.log"
    print(
        f"[{scenario.key}{' memory' if phase == 'memory' else ''}] {peer.name} x{workers}: "
        + result.command,
        file=sys.stderr,
        flush=True,
    )
    try:
        proc = procs.spawn(argv, cwd=APPS, env={**os.environ, **scenario.env}, log=log)
    except OSError as err:
        result.status, result.detail = "failed", f"cannot start: {err}"
        print_progress(result)
        return result
    try:
        _check_and_load(proc, scenario, url, settings, startup_timeout, result)
    except procs.ServerDown as err:
        result.status, result.detail = "failed", str(err)
        last = [line for line in procs.log_tail(log).splitlines() if line.strip()][-1:]
        if last:  # the server's last word is usually the reason (a traceback's last line)
            result.detail += f": {last[0].strip()}"
    except RuntimeError as err:  # wrong body, wrk failed: our own, already worded
        result.status, result.detail = "failed", str(err)
    except Exception as err:  # noqa: BLE001 - one broken server must not end the run
        result.status, result.detail = "failed", f"{type(err).__name__}: {err}"
    finally:
        procs.stop(proc, grace=10.0)
        if result.status == "failed":
            result.log_tail = procs.log_tail(log)
        if peer.kind_from_log:
            result.kind = peer.kind_from_log(log.read_text(errors="replace"))
    print_progress(result)
    return result


def _check_and_load(
    proc: subprocess.Popen,
    scenario: Scenario,
    url: str,
    settings: WrkSettings,
    startup_timeout: float,
    result: Result,
) -> None:
    """Body check, warm-up, measured runs. Fills `result`; raises RuntimeError on failure."""
    status, body = procs.wait_until_answering(proc, url, startup_timeout)
    if status != 200:
        raise RuntimeError(f"HTTP {status} on the check request: {body[:80]!r}")
    problem = scenario.body_problem(body)
    if problem:
        raise RuntimeError(problem)
    if settings.warmup > 0:
        run_wrk(wrk_argv(settings, url, settings.warmup), settings.warmup)
    argv = wrk_argv(settings, url, settings.duration)
    repeat = settings.repeat if result.phase == "load" else 0
    result.wrk_command = shlex.join(argv) if repeat else ""
    result.runs = [measured_run(proc, argv, settings.duration) for _ in range(repeat)]
    result.pss_mib = procs.tree_pss_kib(proc.pid) / 1024
    result.processes = len(procs.session_members(proc.pid))
    if proc.poll() is not None:
        raise procs.ServerDown(f"server exited with code {proc.returncode} during the run")
    _summarise(result)


def _summarise(result: Result) -> None:
    if not result.runs:  # the memory pass: PSS only
        return
    # The median by req/s; with an even count, the lower of the middle two,
    # so the reported run is one that really happened.
    median = sorted(result.runs, key=lambda run: run.rps)[(len(result.runs) - 1) // 2]
    result.rps, result.p50_ms, result.p99_ms = median.rps, median.p50_ms, median.p99_ms
    result.non_2xx_3xx = sum(run.non_2xx_3xx for run in result.runs)
    result.socket_errors = sum(sum(run.socket_errors.values()) for run in result.runs)
    if median.requests:
        result.cpu_us_per_request = median.cpu_seconds / median.requests * 1e6


def fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def print_progress(result: Result) -> None:
    kind = f" (kind {result.kind})" if result.kind else ""
    if result.status == "ok" and result.phase == "memory":
        line = f"    {fmt(result.pss_mib, 1)} MiB PSS, {result.processes} process(es){kind}"
    elif result.status == "ok":
        line = (
            f"    {fmt(result.rps, 0)} req/s, p99 {fmt(result.p99_ms, 2)} ms, "
            f"{fmt(result.cpu_us_per_request, 1)} us CPU/req, {fmt(result.pss_mib, 1)} MiB PSS"
            + kind
        )
    else:
        line = f"    {result.status}: {result.detail}"
    print(line, file=sys.stderr, flush=True)
