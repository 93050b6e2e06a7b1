"""The human-readable report, rendered from the summary `stats.summarize` builds.

Runs in: the load-testing client process. Text only; the JSON output is the
summary itself.
"""

from __future__ import annotations

BAR_WIDTH = 40


def client_warning(summary: dict) -> str | None:
    """The warning to print when the client, not the server, set the pace."""
    client = summary["client"]
    if not client["client_bound"]:
        return None
    return (f"warning: the client used {client['cpu_share_of_one_core']:.0%} of one CPU core; "
            "subserve-load runs on one asyncio thread, so these numbers measure the client, "
            "not the server (latencies include time queued in the client). Use wrk, or "
            "several subserve-load processes, to find the server's limit.")


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def _histogram_lines(buckets: list[dict]) -> list[str]:
    """One bar per bucket, from the first non-empty bucket to the last."""
    used = [i for i, bucket in enumerate(buckets) if bucket["count"]]
    if not used:
        return []
    total = sum(bucket["count"] for bucket in buckets)
    peak = max(bucket["count"] for bucket in buckets)
    lines = []
    for bucket in buckets[used[0]: used[-1] + 1]:
        label = "> 60 s" if bucket["le_ms"] is None else f"<= {bucket['le_ms']:g} ms"
        bar = "#" * round(bucket["count"] / peak * BAR_WIDTH)
        lines.append(f"  {label:>12} |{bar:<{BAR_WIDTH}}| {bucket['count']:>8} "
                     f"{bucket['count'] / total:6.1%}")
    return lines


def _latency_lines(latency: dict) -> list[str]:
    if latency["max"] is None:
        return ["  latency: no responses"]
    points = "  ".join(f"{key} {_ms(latency[key])}"
                       for key in ("min", "mean", "p50", "p90", "p99", "max"))
    return [f"  latency: {points}", "  latency histogram:", *_histogram_lines(latency["histogram"])]


def _counts(counts: dict) -> str:
    return ", ".join(f"{key}: {n}" for key, n in counts.items()) or "none"


def render(summary: dict) -> str:
    """The report as text, ending with a newline."""
    plan, latency, client = summary["plan"], summary["latency_ms"], summary["client"]
    mode = "keep-alive" if plan["keepalive"] else "a new connection per request"
    lines = [
        f"{plan['method']} {plan['url']}: {plan['connections']} connections ({mode})",
        f"  {summary['responses']} responses in {summary['wall_s']:.2f} s = "
        f"{summary['req_per_s']:.1f} req/s  ({summary['successes']} successes, "
        f"{summary['errors']['total']} errors, {summary['body_bytes']} body bytes)",
        *_latency_lines(latency),
        f"  status codes: {_counts(summary['status_codes'])}",
        f"  errors: {_counts(summary['errors']['by_kind'])}",
        f"  client CPU: {client['cpu_s']:.2f} s (user {client['user_s']:.2f}, "
        f"sys {client['sys_s']:.2f}) = {client['cpu_share_of_one_core']:.0%} of one core",
    ]
    return "\n".join(lines) + "\n"
