"""Instructions per request of the micro-benchmarks, under callgrind: a number
this shared machine cannot move, tracked commit by commit.

Runs in: a plain interpreter (``python bench/micro_cost.py [--record]``).

Each of ``micro_wsgi.py`` and ``micro_asgi.py`` runs twice under
``valgrind --tool=callgrind`` with a different request count; the difference
of the totals over the difference of the counts is the cost of one request
(start-up and warm-up cancel out). ``--record`` appends one line per run to
``bench/results/micro.tsv``: the commit, then one column per benchmark.

Run nothing else under callgrind meanwhile: a ``callgrind_control --dump``
from another tool dumps every callgrind process, and cuts these counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "micro.tsv"
BENCHMARKS = [
    ("wsgi-hello", "micro_wsgi.py", "hello"),
    ("wsgi-echo", "micro_wsgi.py", "echo"),
    ("wsgi-stream", "micro_wsgi.py", "stream"),
    ("asgi-hello", "micro_asgi.py", "hello"),
    ("asgi-echo", "micro_asgi.py", "echo"),
]
SMALL, LARGE = 1000, 6000
_TOTAL = re.compile(rb"^summary: (\d+)", re.M)


def instructions(script: str, app: str, n: int) -> int:
    """Total user-space instructions of one run of ``script``."""
    with tempfile.TemporaryDirectory(prefix="micro-cost-") as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        sys.executable, str(ROOT / "bench" / script), "--app", app,
                        "-n", str(n), "--repeat", "1"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONHASHSEED": "0"})
        match = _TOTAL.search(Path(out).read_bytes())
        if match is None:
            raise RuntimeError(f"no callgrind summary for {script} {app}")
        return int(match.group(1))


def per_request(script: str, app: str) -> int:
    return (instructions(script, app, LARGE) - instructions(script, app, SMALL)) // (LARGE - SMALL)


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "subserve", "ext"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help=f"append a line to {RESULTS}")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian's package of that name)")
    counts = {name: per_request(script, app) for name, script, app in BENCHMARKS}
    for name, count in counts.items():
        print(f"{name:12} {count:>8} instructions/request")
    if args.record:
        new = not RESULTS.exists()
        with RESULTS.open("a") as out:
            if new:
                out.write("\t".join(["date", "commit", *counts]) + "\n")
            out.write("\t".join([dt.date.today().isoformat(), commit(),
                                 *map(str, counts.values())]) + "\n")


if __name__ == "__main__":
    main()
