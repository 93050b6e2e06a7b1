"""The `subserve-load` command: options -> LoadPlan -> run -> report.

Runs in: the load-testing client process (not the server). Nothing else in
`subserve.loadtest` reads sys.argv.

Exit status: 0 when every request got a response that passed the checks;
1 when there was any error (connect error, timeout, protocol error, or a
`--expect-status` / `--expect-body-sha256` mismatch); 2 for bad usage.
Non-2xx responses are counted by status but are not errors unless
`--expect-status` says so.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from functools import partial
from pathlib import Path

import click
import httpx

from subserve.loadtest.checks import Expectations
from subserve.loadtest.progress import progress_bar
from subserve.loadtest.report import client_warning, render
from subserve.loadtest.runner import LoadPlan, run
from subserve.loadtest.stats import Recorder, summarize

DEFAULT_DURATION_S = 10.0
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def parse_duration(text: str) -> float:
    """'30s', '2m', '500ms', '1h' or plain seconds ('2.5') -> seconds."""
    match = DURATION_RE.fullmatch(text.strip())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 2m, 500ms")
    return float(match[1]) * DURATION_UNITS[match[2] or "s"]


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' -> ('Name', 'value')."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or name != name.strip():
        raise ValueError(f"{text!r} is not a header like 'Name: value'")
    return name, value.strip()


def _convert(parser, ctx: click.Context, param: click.Parameter, value):
    """Apply a parse_* function to an option's value(s), as a click error on failure."""
    try:
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(parser(item) for item in value)
        return parser(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise click.BadParameter(str(exc)) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


def _check_sha256(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not SHA256_RE.fullmatch(value):
        raise click.BadParameter("expected 64 hex digits")
    return value.lower() if value else None


def build_plan(url: str, options: dict) -> LoadPlan:
    """The options as one LoadPlan; with neither -n nor -d, run for DEFAULT_DURATION_S."""
    body_file: Path | None = options["body_file"]
    duration = options["duration"]
    if duration is None and options["requests"] is None:
        duration = DEFAULT_DURATION_S
    return LoadPlan(
        url=url, connections=options["connections"], requests=options["requests"],
        duration=duration, method=options["method"].upper(), headers=options["headers"],
        body=body_file.read_bytes() if body_file else None,
        keepalive=options["keepalive"] and not options["http10"], timeout=options["timeout"],
        expect=Expectations(options["expect_status"], options["expect_body_sha256"]),
    )


def execute(plan: LoadPlan) -> dict:
    """Run the plan with a progress bar on a terminal; return the summary."""
    recorder = Recorder()
    bar = progress_bar(plan, recorder)
    try:
        usage = asyncio.run(run(plan, recorder, bar.update if bar else None))
    finally:
        if bar:
            bar.finish()
    return summarize(recorder, usage, plan.describe())


@click.command(context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.argument("url", callback=_check_url)
@click.option("--connections", "-c", type=click.IntRange(1, 10_000), default=16,
              help="Concurrent connections (one httpx client each).")
@click.option("--requests", "-n", type=click.IntRange(1), default=None,
              help="Stop after this many requests.")
@click.option("--duration", "-d", default=None, callback=partial(_convert, parse_duration),
              help="Stop after this long: 30s, 2m, 500ms.  [default: 10s when -n is not given]")
@click.option("--method", "-m", default="GET", help="HTTP method.")
@click.option("--header", "-H", "headers", multiple=True,
              callback=partial(_convert, parse_header),
              help="'Name: value' sent with every request; repeatable.")
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Send this file's bytes as the request body.")
@click.option("--keepalive/--no-keepalive", default=True,
              help="Reuse connections, or open a new one per request with 'Connection: close'.")
@click.option("--http1.0", "http10", is_flag=True,
              help="HTTP/1.0-style: a new connection per request (httpx still writes HTTP/1.1 "
                   "on the wire, with 'Connection: close').")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              help="Seconds for each of connect, write, read.")
@click.option("--expect-status", type=click.IntRange(100, 599), default=None,
              help="Count a response with another status as an error.")
@click.option("--expect-body-sha256", callback=_check_sha256, default=None, metavar="HEX",
              help="Count a response whose body has another SHA-256 as an error.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout instead of text.")
@click.option("--json-file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also write the JSON result to this file.")
def main(url: str, as_json: bool, json_file: Path | None, **options) -> None:
    """Load-test URL over keep-alive connections and report req/s, latency and errors.

    Exits 0 when there were no errors, 1 when any request failed or a check
    (--expect-status, --expect-body-sha256) did not match, 2 on bad usage.
    """
    summary = execute(build_plan(url, options))
    text = json.dumps(summary, indent=2)
    if json_file:
        json_file.write_text(text + "\n")
    click.echo(text if as_json else render(summary), nl=as_json)
    warning = client_warning(summary)
    if warning:
        click.echo(warning, err=True)
    sys.exit(1 if summary["errors"]["total"] else 0)
