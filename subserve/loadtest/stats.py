"""Recording results and summarising them: percentiles, histogram, JSON shape.

Runs in: the load-testing client process. Pure data: nothing here does I/O,
so it is tested without a server.

Latencies are kept exactly (8 bytes each in an `array`), so percentiles are
exact rather than bucket estimates; a million requests cost 8 MB.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# Histogram upper bounds in milliseconds: a 1-2-5 series from 0.1 ms to 60 s.
BUCKET_BOUNDS_MS: tuple[float, ...] = tuple(
    round(m * 10.0**e, 1) for e in range(-1, 5) for m in (1, 2, 5)
) + (60_000.0,)

PERCENTILES = (50, 90, 99)

# Above this share of one core, the client (one asyncio thread) is the bottleneck.
CLIENT_BOUND_CPU_SHARE = 0.9


@dataclass
class Recorder:
    """What happened to each request, accumulated during the run.

    A request ends either with a response (its latency and status are kept;
    a failed check also counts it in `mismatches`) or with a transport
    failure (counted in `failures` by kind). Both kinds are errors.
    """

    latencies: array = field(default_factory=lambda: array("d"))
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    mismatches: Counter = field(default_factory=Counter)
    body_bytes: int = 0

    def response(self, status: int, latency: float, size: int, mismatch: str | None) -> None:
        """A response arrived after `latency` seconds; `mismatch` names a failed check."""
        self.latencies.append(latency)
        self.statuses[status] += 1
        self.body_bytes += size
        if mismatch:
            self.mismatches[mismatch] += 1

    def failure(self, kind: str) -> None:
        """A request got no response (connect error, timeout, protocol error...)."""
        self.failures[kind] += 1

    @property
    def responses(self) -> int:
        return len(self.latencies)

    @property
    def successes(self) -> int:
        return self.responses - self.mismatches.total()

    @property
    def errors(self) -> Counter:
        return self.failures + self.mismatches

    @property
    def error_count(self) -> int:
        return self.failures.total() + self.mismatches.total()

    @property
    def finished(self) -> int:
        """Requests that ended, with a response or with a transport failure."""
        return self.responses + self.failures.total()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted data; 0.0 for no data."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(values_ms: Sequence[float], bounds: Sequence[float] = BUCKET_BOUNDS_MS) -> list[tuple[float, int]]:
    """Count values into buckets `(upper bound, count)`; the last bound is +inf."""
    counts = [0] * (len(bounds) + 1)
    for value in values_ms:
        counts[_bucket(value, bounds)] += 1
    return list(zip([*bounds, math.inf], counts, strict=True))


def _bucket(value: float, bounds: Sequence[float]) -> int:
    # Bounds are few (19): a linear scan is as fast as bisect here and reads plainly.
    for index, bound in enumerate(bounds):
        if value <= bound:
            return index
    return len(bounds)


@dataclass(frozen=True)
class ClientUsage:
    """The client's own CPU time over the run, against wall time."""

    wall_s: float
    user_s: float
    sys_s: float
    cpu_s: float

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: 1.0 is one core fully busy."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def client_bound(self) -> bool:
        return self.cpu_share >= CLIENT_BOUND_CPU_SHARE


def latency_summary(latencies_s: Sequence[float]) -> dict:
    """min/mean/percentiles/max in milliseconds (None without data), plus the histogram."""
    values = sorted(v * 1000 for v in latencies_s)
    keys = ["min", "mean", *(f"p{q}" for q in PERCENTILES), "max"]
    if values:
        points = [values[0], sum(values) / len(values),
                  *(percentile(values, q) for q in PERCENTILES), values[-1]]
        summary: dict = {key: round(value, 3) for key, value in zip(keys, points, strict=True)}
    else:
        summary = dict.fromkeys(keys)
    summary["histogram"] = [
        {"le_ms": None if math.isinf(bound) else bound, "count": count}
        for bound, count in histogram(values)
    ]
    return summary


def summarize(recorder: Recorder, usage: ClientUsage, plan: dict) -> dict:
    """The whole result as plain JSON-ready data; the text report renders this too."""
    responses = recorder.responses
    return {
        "plan": plan,
        "wall_s": round(usage.wall_s, 3),
        "finished": recorder.finished,
        "responses": responses,
        "successes": recorder.successes,
        "req_per_s": round(responses / usage.wall_s, 1) if usage.wall_s > 0 else 0.0,
        "body_bytes": recorder.body_bytes,
        "latency_ms": latency_summary(recorder.latencies),
        "status_codes": {str(code): n for code, n in sorted(recorder.statuses.items())},
        "errors": {"total": recorder.error_count, "by_kind": dict(sorted(recorder.errors.items()))},
        "client": {
            "cpu_s": round(usage.cpu_s, 3),
            "user_s": round(usage.user_s, 3),
            "sys_s": round(usage.sys_s, 3),
            "cpu_share_of_one_core": round(usage.cpu_share, 3),
            "client_bound": usage.client_bound,
        },
    }
