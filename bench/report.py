"""The results file: machine, versions, commands, one table per scenario, and a PNG chart.

Runs in: the benchmark driver (outside the server).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Result, WrkSettings, fmt
from bench.scenarios import Scenario
from bench.servers import read_peer_status

PACKAGES = (
    "subserve", "gunicorn", "uvicorn", "uvloop", "httptools", "granian", "bjoern",
    "mod_wsgi", "flask", "django", "fastapi", "pydantic-core",
)  # fmt: skip


@dataclass
class RunInfo:
    """Everything the report states besides the results."""

    started: dt.datetime
    argv: list[str]  # the driver's own command line
    settings: WrkSettings
    threads: int
    workers: list[int]
    memory_workers: list[int]  # of the memory pass
    machine: dict[str, str]


# --------------------------------------------------------------------------
# Machine and versions


def _autogroup() -> str:
    try:
        return "on" if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" else "off"
    except OSError:
        return "unknown"


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
        "load": load_average(),
        "autogroup": _autogroup(),
        "wrk": _wrk_version(),
        "apache": _apache_version(),
        **_venv_versions(venv),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _wrk_version() -> str:
    # `wrk -v` prints its version then usage, and exits non-zero.
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _apache_version() -> str:
    try:
        out = subprocess.run(["apache2", "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    match = re.search(r"Server version: Apache/(\S+)", out.stdout)
    return match.group(1) if match else "unknown"


def _venv_versions(venv: Path) -> dict[str, str]:
    """Python and package versions as the servers see them: asked of the venv's python."""
    code = (
        "import json, sys, importlib.metadata as m\n"
        "v = {'python': sys.version.replace(chr(10), ' ')}\n"
        f"for name in {PACKAGES!r}:\n"
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


# --------------------------------------------------------------------------
# Markdown


def markdown(
    results: list[Result], scenarios: list[Scenario], info: RunInfo, chart: str | None
) -> str:
    out = _header(info)
    if chart:
        out += [
            f"![req/s at {chart_workers(info.workers)} workers, and PSS vs workers]({chart})",
            "",
        ]
    for scenario in scenarios:
        rows = [r for r in results if r.scenario == scenario.key and r.phase == "load"]
        if rows:
            out += [f"## {scenario.title}", "", _table(rows), ""]
            out += _kind_note(rows)
            out += _speedup_note(rows)
    out += _memory(results, scenarios, info)
    out += _skipped(results)
    out += _commands(results)
    out += _failures(results)
    return "\n".join(out).rstrip() + "\n"


def _header(info: RunInfo) -> list[str]:
    m, s = info.machine, info.settings
    return [
        f"# subserve benchmark, {info.started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, Linux {m['kernel']}; "
        f"load average at the start {m['load']}"
        + (f", at the end {m['load_end']}" if "load_end" in m else ""),
        f"- Python (bench venv): {m.get('python')}",
        "- Versions: "
        + ", ".join(f"{name} {m.get(name, '?')}" for name in PACKAGES)
        + f", Apache {m['apache']}",
        f"- Driver: `{' '.join(info.argv)}`",
        f"- Load: `{m['wrk']}`, `wrk -t{s.threads} -c{s.connections} -d{s.duration}s --latency URL`, "
        f"{s.repeat} run(s) after a {s.warmup} s warm-up, against one fresh server per row. "
        f"req/s is the median run's, p50/p99 its latencies; ± is (max-min)/median over the runs. "
        f"wrk shares the machine's {m['nproc']} cores with the server. "
        f"Each server runs in a session of its own; with the scheduler's autogroups "
        f"{m.get('autogroup', 'unknown')}, "
        + ("the server's whole process tree and wrk get equal CPU shares when both are busy, "
           "whatever their thread counts (with autogroups off, or in wrk's session, every "
           "thread competes alike and servers with more threads take more of the CPU)."
           if m.get("autogroup") == "on" else "every thread competes alike."),
        f"- Workers: {', '.join(map(str, info.workers))}: for subserve, OWN_GIL interpreters "
        "(its default worker kind, auto; forked processes for an app that refuses them, as its "
        "log says under the table); processes for subserve-process (`--worker-kind process`) "
        "and the others; for subserve-thread (`--worker-kind thread`), one copy of the app in "
        f"the main interpreter with workers x {info.threads} threads (one GIL: the same "
        "concurrency as the others, not their parallelism). Thread-pooled WSGI servers "
        "(subserve, gunicorn gthread, granian's "
        f"blocking threads, mod_wsgi) get {info.threads} threads per worker. "
        f"More workers than the {m['nproc']} cores (e.g. 8) cannot add speed: those rows show "
        "what each extra worker costs in memory.",
        "- errors: wrk socket errors (connect/read/write/timeout), and non-2xx/3xx responses, "
        "summed over the measured runs.",
        "- CPU/req: utime+stime of the server's whole process tree during the median run, "
        "divided by its requests (idle overhead included).",
        "- PSS: proportional set size (`/proc/PID/smaps_rollup`) summed over the server's "
        "process tree, after the last run. RSS would double-count the pages that forked "
        "workers share with their master; PSS splits each shared page among its sharers.",
        "",
    ]


def _table(rows: Iterable[Result]) -> str:
    lines = [
        "| server | workers | status | req/s | ± | p50 ms | p99 ms | errors | non-2xx "
        "| CPU µs/req | PSS MiB | procs |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        status = r.status if r.status == "ok" else f"**{r.status}**: {_cell(r.detail)}"
        spread = r.spread
        lines.append(
            f"| {r.server} | {r.workers} | {status} | {fmt(r.rps, 0)} "
            f"| {'–' if spread is None else f'{spread * 100:.0f}%'} "
            f"| {fmt(r.p50_ms, 2)} | {fmt(r.p99_ms, 2)} | {fmt(r.socket_errors, 0)} "
            f"| {fmt(r.non_2xx_3xx, 0)} | {fmt(r.cpu_us_per_request, 1)} "
            f"| {fmt(r.pss_mib, 1)} | {fmt(r.processes, 0)} |"
        )
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A table cell is one line without pipes; the full text goes under "Failures".
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 100 else text[:97] + "..."


def _short_kind(kind: str) -> str:
    """The kind without the fallback's reason: "process (auto fallback)"."""
    return kind.split(" (")[0] + (" (auto fallback)" if "auto fell back" in kind else "")


def _kind_note(rows: list[Result]) -> list[str]:
    """What subserve's log said it served with, per server, under its table."""
    kinds: dict[str, list[str]] = {}
    for r in rows:
        if r.kind and r.kind not in kinds.setdefault(r.server, []):
            kinds[r.server].append(r.kind)
    if not kinds:
        return []
    said = "; ".join(f"{server}: {', '.join(found)}" for server, found in kinds.items())
    return [f"Worker kind, from the server's log: {said}.", ""]


def _memory(results: list[Result], scenarios: list[Scenario], info: RunInfo) -> list[str]:
    """The memory pass: PSS per worker count and per extra worker, one line per app and server."""
    rows = [r for r in results if r.phase == "memory"]
    if not rows:
        return []
    counts = info.memory_workers
    lo, hi = min(counts), max(counts)
    out = [
        "## Memory per extra worker (PSS)",
        "",
        "PSS of the server's whole process tree, each server started fresh at each worker "
        f"count, taken after a {max(info.settings.warmup, 1)} s warm-up (no measured runs; a load "
        "row's PSS above is taken after its runs, so the two may differ by a few MiB). "
        f"MiB per extra worker: (PSS at {hi} - PSS at {lo}) / {hi - lo}. For subserve-thread "
        f"a worker is {info.threads} more threads of the one interpreter (threads instead of "
        f"workers); every other worker brings {info.threads} threads (WSGI) or one event "
        "loop (ASGI) with it. kind: what subserve's log said it served with; the others "
        "fork a process per worker.",
        "",
        "| app | server | kind | "
        + " | ".join(f"PSS MiB at {n}" for n in counts)
        + f" | MiB per extra worker | procs at {hi} |",
        "|---|---|---|" + "--:|" * (len(counts) + 2),
    ]
    for scenario in scenarios:
        mine = [r for r in rows if r.scenario == scenario.key]
        for server in _servers_in(mine):
            points = {r.workers: r for r in mine if r.server == server}
            pss = {n: r.pss_mib for n, r in points.items() if r.status == "ok" and r.pss_mib}
            cells = [
                fmt(pss[n], 1) if n in pss else f"**{points[n].status}**" if n in points else "–"
                for n in counts
            ]
            extra = (pss[hi] - pss[lo]) / (hi - lo) if lo in pss and hi in pss and hi > lo else None
            kinds = list(dict.fromkeys(_short_kind(r.kind) for r in points.values() if r.kind))
            top = points.get(hi)
            out.append(
                f"| {scenario.key} | {server} | {', '.join(kinds) or '–'} | "
                + " | ".join(cells)
                + f" | {fmt(extra, 1)} | {fmt(top.processes if top else None, 0)} |"
            )
    out.append("")
    return out + _kind_note([r for r in rows if "auto fell back" in r.kind][:1])


def _speedup_note(rows: list[Result]) -> list[str]:
    subserve = {r.workers: r for r in rows if r.server == "subserve" and r.status == "ok"}
    one, two = subserve.get(1), subserve.get(2)
    if not (one and two and one.rps and two.rps):
        return []
    return [
        f"subserve, 2 workers over 1: **{two.rps / one.rps:.2f}x** (2 cores, shared with wrk).",
        "",
    ]


def _skipped(results: list[Result]) -> list[str]:
    reasons = {r.server: r.detail for r in results if r.status == "skipped"}
    if not reasons:
        return []
    return ["## Not run", "", *(f"- {name}: {why}" for name, why in reasons.items()), ""]


def _commands(results: list[Result]) -> list[str]:
    out = ["## Command lines", ""]
    out += [f"- {_label(r)}: `{r.command}`" for r in results if r.command]
    return out + [""]


def _label(r: Result) -> str:
    memory = "memory / " if r.phase == "memory" else ""
    return f"{memory}{r.scenario} / {r.server} / {r.workers}"


def _failures(results: list[Result]) -> list[str]:
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return []
    out = ["## Failures", ""]
    for r in failed:
        out += [f"### {_label(r)} workers", "", r.detail, ""]
        if r.log_tail:
            out += ["Server output (last lines):", "", "```", r.log_tail, "```", ""]
    return out


def write_json(path: Path, results: list[Result], info: RunInfo) -> None:
    payload = {
        "started": info.started.isoformat(),
        "argv": info.argv,
        "machine": info.machine,
        "settings": dataclasses.asdict(info.settings),
        "threads": info.threads,
        "workers": info.workers,
        "memory_workers": info.memory_workers,
        "results": [dataclasses.asdict(r) for r in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


# --------------------------------------------------------------------------
# Chart


def chart_workers(workers: list[int]) -> int:
    """The worker count the bar chart shows: 2 (one per core) when it was run."""
    return 2 if 2 in workers else workers[0]


def write_chart(
    path: Path,
    results: list[Result],
    scenarios: list[Scenario],
    workers: list[int],
    memory_workers: list[int],
) -> bool:
    """Two panels: req/s per scenario and server, and PSS vs workers. False if nothing to draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: render straight to the file
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ok = [r for r in results if r.status == "ok" and r.phase == "load"]
    if not ok:
        return False
    fig, (bars, memory) = plt.subplots(
        2, 1, figsize=(13, 10), gridspec_kw={"height_ratios": [3, 2]}
    )
    memory_rows = [r for r in results if r.status == "ok" and r.phase == "memory"]
    colours = _colours(_servers_in(ok + memory_rows))
    _draw_rps(bars, ok, scenarios, chart_workers(workers), colours)
    if memory_rows:
        _draw_pss(memory, memory_rows, memory_workers, colours, "memory pass")
    else:
        _draw_pss(memory, [r for r in ok if r.scenario in ("hello", "hello-asgi")], workers, colours)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _servers_in(results: list[Result]) -> list[str]:
    return list(dict.fromkeys(r.server for r in results))


def _colours(servers: list[str]) -> dict[str, str]:
    """One colour per server, the same in both panels."""
    palette = [f"C{i}" for i in range(10)]
    return {server: palette[i % len(palette)] for i, server in enumerate(servers)}


def _draw_rps(
    ax: object, ok: list[Result], scenarios: list[Scenario], workers: int, colours: dict
) -> None:
    rows = [r for r in ok if r.workers == workers]
    keys = [s.key for s in scenarios if any(r.scenario == s.key for r in rows)]
    width = 0.8 / max(
        1, max((len(_servers_in([r for r in rows if r.scenario == k])) for k in keys), default=1)
    )
    labelled: set[str] = set()
    for k, key in enumerate(keys):
        # Only the servers that ran this scenario, centred on its tick: an
        # ASGI scenario has no gaps for the WSGI-only servers.
        present = [r for r in rows if r.scenario == key]
        for i, r in enumerate(present):
            x = k + (i - (len(present) - 1) / 2) * width
            label = None if r.server in labelled else r.server
            labelled.add(r.server)
            drawn = ax.bar([x], [r.rps], width, color=colours[r.server], label=label)
            # Labels on the bars: the log scale makes heights hard to read off.
            ax.bar_label(drawn, labels=[_short(r.rps)], fontsize=7, rotation=90, padding=2)
    ax.set_yscale("log")
    ax.set_xticks(range(len(keys)), keys)
    ax.set_ylabel("req/s (log scale)")
    ax.set_title(f"Throughput at {workers} worker(s), median of the runs (higher is better)")
    ax.legend(ncols=min(len(labelled), 7), fontsize=8, loc="upper right")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.margins(y=0.25)


def _draw_pss(
    ax: object,
    rows: list[Result],
    workers: list[int],
    colours: dict,
    what: str = "hello world",
) -> None:
    """PSS against workers, a line per app and server: the memory pass's rows when
    there are any, else the hello apps' load rows (the servers' own cost, not the app's)."""
    styles = ("-o", "--s", ":^", "-.d")
    for i, key in enumerate(dict.fromkeys(r.scenario for r in rows)):
        mine = [r for r in rows if r.scenario == key]
        for server in _servers_in(mine):
            points = sorted((r.workers, r.pss_mib) for r in mine if r.server == server)
            ax.plot(
                *zip(*points, strict=True),
                styles[i % len(styles)],
                color=colours[server],
                label=f"{server} ({key})",
            )
    ax.set_xticks(workers)
    ax.set_xlabel(
        "workers (interpreters for subserve, processes for subserve-process and the others, "
        "x threads for subserve-thread)"
    )
    ax.set_ylabel("PSS MiB, whole process tree")
    ax.set_title(f"Memory vs workers, {what} (lower is better)")
    ax.legend(fontsize=8, ncols=3)
    ax.grid(alpha=0.3)


def _short(value: float) -> str:
    if not value:
        return ""
    return f"{value / 1000:.0f}k" if value >= 10_000 else f"{value:,.0f}"
