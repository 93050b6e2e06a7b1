"""subserve-load: the stats/checks/report units, and the command against a real server.

Runs in: the test process (the load tester runs in it too, via click's
CliRunner; the server is a subprocess from the `start_server` fixture).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner
from helpers.server import free_port

from subserve.loadtest.checks import BODY_MISMATCH, STATUS_MISMATCH, Expectations, failure_kind
from subserve.loadtest.cli import main, parse_duration, parse_header
from subserve.loadtest.progress import ProgressBar, progress_bar
from subserve.loadtest.report import client_warning, render
from subserve.loadtest.runner import LoadPlan, Tickets, make_client
from subserve.loadtest.stats import (
    BUCKET_BOUNDS_MS,
    ClientUsage,
    Recorder,
    histogram,
    latency_summary,
    percentile,
    summarize,
)

HELLO_SHA256 = hashlib.sha256(b"Hello, world!").hexdigest()


# --- stats ------------------------------------------------------------------

def test_percentiles_nearest_rank():
    data = [float(v) for v in range(1, 101)]
    assert [percentile(data, q) for q in (1, 50, 90, 99, 100)] == [1, 50, 90, 99, 100]
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_histogram_buckets_are_inclusive_upper_bounds():
    assert list(BUCKET_BOUNDS_MS) == sorted(BUCKET_BOUNDS_MS)
    buckets = histogram([0.05, 0.1, 0.15, 3.0, 3.0, 70_000.0], bounds=(0.1, 1.0, 5.0))
    assert buckets == [(0.1, 2), (1.0, 1), (5.0, 2), (math.inf, 1)]


def test_latency_summary_in_ms_and_empty():
    summary = latency_summary([v / 1000 for v in range(1, 101)])
    assert (summary["min"], summary["p50"], summary["p90"], summary["p99"], summary["max"]) == (1, 50, 90, 99, 100)
    assert summary["mean"] == 50.5
    assert sum(b["count"] for b in summary["histogram"]) == 100
    assert summary["histogram"][-1]["le_ms"] is None
    empty = latency_summary([])
    assert empty["p50"] is None and empty["max"] is None


def sample_summary(cpu_s: float = 0.5) -> dict:
    recorder = Recorder()
    for i in range(10):
        recorder.response(200, 0.001 * (i + 1), 13, None)
    recorder.response(500, 0.002, 21, STATUS_MISMATCH)
    recorder.failure("connect error")
    usage = ClientUsage(wall_s=2.0, user_s=cpu_s * 0.8, sys_s=cpu_s * 0.2, cpu_s=cpu_s)
    return summarize(recorder, usage, LoadPlan(url="http://x/").describe())


def test_summary_json_shape():
    summary = json.loads(json.dumps(sample_summary()))
    assert set(summary) == {"plan", "wall_s", "finished", "responses", "successes", "req_per_s",
                            "body_bytes", "latency_ms", "status_codes", "errors", "client"}
    assert (summary["finished"], summary["responses"], summary["successes"]) == (12, 11, 10)
    assert summary["req_per_s"] == 5.5
    assert summary["status_codes"] == {"200": 10, "500": 1}
    assert summary["errors"] == {"total": 2, "by_kind": {"connect error": 1, "status mismatch": 1}}
    assert set(summary["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max", "histogram"}
    assert summary["client"]["cpu_share_of_one_core"] == 0.25
    assert summary["client"]["client_bound"] is False
    assert summary["plan"]["url"] == "http://x/"


def test_report_text_and_client_bound_warning():
    calm = sample_summary(cpu_s=0.5)
    text = render(calm)
    assert "11 responses in 2.00 s = 5.5 req/s" in text
    assert "p99" in text and "latency histogram" in text
    assert "connect error: 1" in text and "25% of one core" in text
    assert client_warning(calm) is None
    busy = sample_summary(cpu_s=1.9)
    assert busy["client"]["client_bound"] is True
    assert "measure the client" in client_warning(busy)


# --- checks, parsing, runner pieces -----------------------------------------

@pytest.mark.parametrize(("exc", "kind"), [
    (httpx.ConnectError("refused"), "connect error"),
    (httpx.ConnectTimeout("slow"), "connect timeout"),
    (httpx.ReadTimeout("slow"), "read timeout"),
    (httpx.RemoteProtocolError("bad"), "remote protocol error"),
    (httpx.ReadError("reset"), "read error"),
    (ConnectionResetError(), "os error"),
    (ValueError(), "other: ValueError"),
])
def test_failure_kinds(exc, kind):
    assert failure_kind(exc) == kind


def test_expectations():
    assert Expectations().mismatch(500, b"") is None
    assert Expectations(status=200).mismatch(500, b"") == STATUS_MISMATCH
    assert Expectations(body_sha256=HELLO_SHA256).mismatch(200, b"Hello, world!") is None
    assert Expectations(body_sha256=HELLO_SHA256).mismatch(200, b"nope") == BODY_MISMATCH


def test_parse_duration_and_header():
    assert [parse_duration(t) for t in ("30s", "2m", "500ms", "1h", "2.5")] == [30, 120, 0.5, 3600, 2.5]
    for bad in ("", "0s", "10x", "-1s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_header("X-Test:  a: b ") == ("X-Test", "a: b")
    for bad in ("novalue", ": x", " X: y"):
        with pytest.raises(ValueError):
            parse_header(bad)


def test_tickets_and_worker_count():
    tickets = Tickets(2)
    assert [tickets.take() for _ in range(3)] == [True, True, False]
    assert Tickets(None).take()
    assert LoadPlan(url="http://x/", connections=64, requests=10).workers == 10
    assert LoadPlan(url="http://x/", connections=64, duration=1).workers == 64


def test_client_without_keepalive_closes_each_connection():
    plan = LoadPlan(url="http://x/", keepalive=False)
    client = make_client(plan, httpx.create_ssl_context())
    assert client.headers["Connection"] == "close"
    assert make_client(LoadPlan(url="http://x/"), httpx.create_ssl_context()).headers.get("Connection") != "close"


def test_progress_bar_only_on_a_terminal():
    plan = LoadPlan(url="http://x/", requests=100)
    recorder = Recorder()
    assert progress_bar(plan, recorder, io.StringIO()) is None
    out = io.StringIO()
    for _ in range(25):
        recorder.response(200, 0.001, 1, None)
    ProgressBar(plan, recorder, out).update(0.5)
    assert "25%" in out.getvalue() and "25 done" in out.getvalue() and "50 req/s" in out.getvalue()


# --- the command against a real subserve ------------------------------------

def load(*args: str) -> tuple[int, dict]:
    """Run subserve-load with --json; (exit code, parsed JSON)."""
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def server(start_server):
    return start_server("basic:app", "--workers", "2", "--no-access-log")


def test_requests_all_succeed_with_sane_percentiles(server):
    code, out = load(f"{server.url}/hello", "-n", "500", "-c", "8")
    assert code == 0
    assert (out["responses"], out["successes"], out["errors"]["total"]) == (500, 500, 0)
    assert out["status_codes"] == {"200": 500}
    assert out["plan"]["connections"] == 8 and out["body_bytes"] == 500 * 13
    lat = out["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] < 10_000
    assert sum(b["count"] for b in lat["histogram"]) == 500
    assert out["req_per_s"] > 0 and out["client"]["cpu_s"] > 0


def test_expect_status_counts_mismatches_as_errors(server):
    code, out = load(f"{server.url}/raise", "-n", "40", "-c", "4", "--expect-status", "200")
    assert code == 1
    assert out["status_codes"] == {"500": 40}
    assert out["errors"] == {"total": 40, "by_kind": {"status mismatch": 40}}
    code, out = load(f"{server.url}/raise", "-n", "10", "-c", "2")
    assert code == 0 and out["status_codes"] == {"500": 10}  # non-2xx alone is not an error


def test_expect_body_sha256(server):
    code, out = load(f"{server.url}/hello", "-n", "50", "--expect-body-sha256", HELLO_SHA256)
    assert code == 0 and out["successes"] == 50
    code, out = load(f"{server.url}/hello", "-n", "20", "--expect-body-sha256", "0" * 64)
    assert code == 1 and out["errors"]["by_kind"] == {"body mismatch": 20}


def test_post_body_file_to_echo(server, tmp_path):
    body = bytes(range(256)) * 40
    (tmp_path / "body.bin").write_bytes(body)
    code, out = load(f"{server.url}/echo", "-n", "50", "-c", "4", "--method", "POST",
                     "--body-file", str(tmp_path / "body.bin"), "-H", "Content-Type: application/x-test",
                     "--expect-body-sha256", hashlib.sha256(body).hexdigest())
    assert code == 0, out["errors"]
    assert out["successes"] == 50 and out["body_bytes"] == 50 * len(body)
    assert out["plan"]["method"] == "POST" and out["plan"]["body_bytes"] == len(body)


@pytest.mark.parametrize("flag", ["--no-keepalive", "--http1.0"])
def test_new_connection_per_request(server, flag):
    code, out = load(f"{server.url}/hello", "-n", "100", "-c", "4", flag,
                     "--expect-body-sha256", HELLO_SHA256)
    assert code == 0 and out["successes"] == 100 and out["plan"]["keepalive"] is False


def test_duration_stops_by_itself(server):
    started = time.monotonic()
    code, out = load(f"{server.url}/hello", "-d", "1s", "-c", "4")
    assert time.monotonic() - started < 4
    assert code == 0 and out["responses"] > 0
    assert 0.9 < out["wall_s"] < 2.5


def test_connect_errors_without_hanging():
    started = time.monotonic()
    code, out = load(f"http://127.0.0.1:{free_port()}/", "-n", "20", "-c", "4", "--timeout", "2")
    assert time.monotonic() - started < 5
    assert code == 1
    assert out["responses"] == 0 and out["errors"] == {"total": 20, "by_kind": {"connect error": 20}}
    assert out["latency_ms"]["p50"] is None


def test_text_report_and_json_file(server, tmp_path):
    result = CliRunner().invoke(main, [f"{server.url}/hello", "-n", "30", "--json-file",
                                       str(tmp_path / "out.json")])
    assert result.exit_code == 0
    assert "30 responses in" in result.stdout and "status codes: 200: 30" in result.stdout
    assert json.loads((tmp_path / "out.json").read_text())["successes"] == 30


def test_python_dash_m_entry(server):
    proc = subprocess.run([sys.executable, "-m", "subserve.loadtest", f"{server.url}/hello",
                           "-n", "20", "-c", "2", "--json"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["successes"] == 20


@pytest.mark.parametrize("args", [
    ["ftp://example.com/"], ["http://x/", "-d", "soon"], ["http://x/", "-H", "novalue"],
    ["http://x/", "--expect-body-sha256", "abc"], ["http://x/", "-c", "0"],
])
def test_bad_usage_exits_2(args):
    assert CliRunner().invoke(main, args).exit_code == 2
