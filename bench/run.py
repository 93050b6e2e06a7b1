"""Run subserve and its peers side by side under wrk; write a Markdown report and a chart.

Runs in: the benchmark driver (outside the server).

bench/install.sh makes bench/.venv with the peers, the frameworks, matplotlib
and subserve; run this with that venv's python:

    bench/install.sh && bench/.venv/bin/python bench/run.py [--quick]

For each scenario x server x worker count: start the server fresh on a free
127.0.0.1 port, wait until it answers, check the body, warm up, run wrk
--repeat times, measure the server's CPU time per request and its memory
(PSS), then stop it. Then the memory pass: for the apps that name servers
for it (Scenario.memory_servers), each of those servers at each
--memory-workers count, started, warmed up and measured for PSS only, for the
report's MiB per extra worker. A server that fails at any step is reported as
such and the run goes on; every process this script starts is stopped on exit, Ctrl-C
included. The modules: scenarios.py (what is served), servers.py (how each
peer starts), measure.py (one row), procs.py (processes, CPU, PSS),
report.py (Markdown, JSON, PNG).
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script: make `bench` importable

from bench import procs, report  # noqa: E402
from bench.measure import Result, WrkSettings, measure  # noqa: E402
from bench.scenarios import Scenario, all_scenarios  # noqa: E402
from bench.servers import Peer, all_peers  # noqa: E402


def _interrupt(signum: int, frame: object) -> None:
    # Turn SIGTERM/SIGHUP into the same path as Ctrl-C, so `finally` blocks run.
    raise KeyboardInterrupt(f"signal {signum}")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios", type=_csv, default=[], help="comma list of scenario keys (default: all)"
    )
    p.add_argument(
        "--servers", type=_csv, default=[], help="comma list of server names (default: all)"
    )
    p.add_argument(
        "--workers", type=_csv, default=["1", "2", "8"], help="comma list (default 1,2,8)"
    )
    p.add_argument(
        "--memory-workers",
        type=_csv,
        default=None,
        help="worker counts of the memory pass (default 1,2,4; --quick 1,2; '' for none)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only rows whose 'scenario/server/workers' (memory pass: "
        "'memory/scenario/server/workers') contains this (repeatable)",
    )
    p.add_argument("--repeat", type=int, default=None, help="measured wrk runs per row (default 3)")
    p.add_argument("--duration", type=int, default=None, help="seconds per run (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="seconds of warm-up (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--server-threads", type=int, default=4, help="threads per worker (WSGI pools)")
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
        "--tag", default="", help="added to the file names: results/DATE[-TAG][-quick].md"
    )
    p.add_argument("--no-write", action="store_true", help="print the report, write no files")
    p.add_argument("--list", action="store_true", help="list scenarios and servers, run nothing")
    return p.parse_args(argv)


def wrk_settings(args: argparse.Namespace) -> WrkSettings:
    def pick(value: int | None, quick: int, full: int) -> int:
        return value if value is not None else (quick if args.quick else full)

    return WrkSettings(
        duration=pick(args.duration, 3, 10),
        warmup=pick(args.warmup, 1, 2),
        repeat=pick(args.repeat, 3, 3),
        connections=args.connections,
        threads=args.wrk_threads,
    )


def cpu_iterations(requested: int) -> int:
    if requested:
        os.environ["BENCH_CPU_ITERS"] = str(requested)
    # Importing the CPU app calibrates it once, here, and every server then
    # gets the same count: identical work whatever the noise at their start.
    from bench.apps import cpu

    return cpu.ITERATIONS


def pick(items: list, names: list[str], what: str) -> list:
    """The items whose .key/.name is in `names` (all when empty); unknown names are an error."""
    known = {getattr(item, "key", None) or item.name: item for item in items}
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[name] for name in names] if names else items


@dataclasses.dataclass(frozen=True)
class Row:
    """One server start to measure: a scenario, a server, a worker count, a pass."""

    scenario: Scenario
    peer: Peer
    workers: int
    phase: str = "load"  # or "memory": PSS only (measure.py)

    @property
    def key(self) -> str:
        """What --only matches and --list prints."""
        key = f"{self.scenario.key}/{self.peer.name}/{self.workers}"
        return f"memory/{key}" if self.phase == "memory" else key


def matrix(
    scenarios: list[Scenario],
    peers: list[Peer],
    workers: list[int],
    memory_workers: list[int],
    only: list[str],
    named: bool,
) -> list[Row]:
    """The load rows, then the memory pass's. `named`: --servers chose the peers,
    so the opt-in variants run wherever their interface fits."""
    rows = []
    for scenario in scenarios:
        for peer in peers:
            if scenario.interface not in peer.interfaces:
                continue
            if peer.variant and not named and peer.name not in scenario.variants:
                continue
            rows += [Row(scenario, peer, count) for count in workers]
    for scenario in scenarios:
        for peer in peers:
            if peer.name in scenario.memory_servers:
                rows += [Row(scenario, peer, count, "memory") for count in memory_workers]
    return [row for row in rows if not only or any(word in row.key for word in only)]


def run_all(
    rows: list[Row],
    args: argparse.Namespace,
    settings: WrkSettings,
    results: list[Result],
) -> None:
    """Measure every row, appending to `results` (kept on an interrupt)."""
    # The memory pass needs some load: it is what brings every worker up to
    # its working size (first requests import lazily, fill caches).
    memory_settings = dataclasses.replace(settings, warmup=max(settings.warmup, 1))
    with tempfile.TemporaryDirectory(prefix="subserve-bench-") as logdir:
        # mod_wsgi-express's server root lives in here, and Apache's
        # processes run as www-data: they must be able to enter it.
        os.chmod(logdir, 0o755)
        for row in rows:
            results.append(
                measure(
                    row.scenario,
                    row.peer,
                    row.workers,
                    threads=args.server_threads,
                    settings=memory_settings if row.phase == "memory" else settings,
                    startup_timeout=args.startup_timeout,
                    logdir=Path(logdir),
                    phase=row.phase,
                )
            )


def write(
    results: list[Result], scenarios: list[Scenario], info: report.RunInfo, args: argparse.Namespace
) -> None:
    # "-quick" last: bench/.gitignore drops results/*-quick.* (smoke runs).
    stem = f"{info.started:%Y-%m-%d}" + (f"-{args.tag}" if args.tag else "")
    stem += "-quick" if args.quick else ""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    md_path = args.out_dir / f"{stem}.md"
    png_path = md_path.with_suffix(".png")
    drawn = report.write_chart(png_path, results, scenarios, info.workers, info.memory_workers)
    md = report.markdown(results, scenarios, info, png_path.name if drawn else None)
    print(md)
    md_path.write_text(md)
    report.write_json(md_path.with_suffix(".json"), results, info)
    print(f"wrote {md_path}" + (f" and {png_path}" if drawn else " (no chart)"), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = wrk_settings(args)
    workers = [int(w) for w in args.workers]
    if args.memory_workers is None:
        args.memory_workers = ["1", "2"] if args.quick else ["1", "2", "4"]
    memory_workers = [int(w) for w in args.memory_workers]
    scenarios = pick(all_scenarios(cpu_iterations(args.cpu_iterations)), args.scenarios, "scenario")
    peers = pick(all_peers(args.venv.resolve()), args.servers, "server")
    rows = matrix(scenarios, peers, workers, memory_workers, args.only, bool(args.servers))
    if args.list:
        for row in rows:
            print(row.key + (f"  (skip: {row.peer.skip})" if row.peer.skip else ""))
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: run bench/install.sh", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    atexit.register(procs.kill_everything)

    info = report.RunInfo(
        started=dt.datetime.now(dt.UTC),
        argv=[Path(sys.executable).name, *sys.argv],
        settings=settings,
        threads=args.server_threads,
        workers=workers,
        memory_workers=memory_workers,
        machine=report.machine_info(args.venv.resolve()),
    )
    results: list[Result] = []
    try:
        run_all(rows, args, settings, results)
        # Other work on the machine moves wall-clock numbers: say how busy it got.
        info.machine["load_end"] = report.load_average()
    except KeyboardInterrupt:
        procs.kill_everything()
        print("\ninterrupted; partial results (not written):\n", file=sys.stderr)
        print(report.markdown(results, scenarios, info, None))
        return 130
    finally:
        procs.kill_everything()
    if args.no_write:
        print(report.markdown(results, scenarios, info, None))
    else:
        write(results, scenarios, info, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
