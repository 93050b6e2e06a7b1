"""The `subserve` command: options -> Config -> Server; and `subserve check`.

Runs in: the main interpreter. Nothing else reads sys.argv or the environment;
every option may also come from a SUBSERVE_<OPTION> environment variable.

``subserve APP [options]`` serves APP; ``subserve check APP`` reports whether
APP can run in worker interpreters (``subserve.check``). A first argument
``check`` names the subcommand; an app is always ``module:attribute``.
"""

from __future__ import annotations

import os
import sys

import click

from subserve import _engine, log
from subserve.config import Config

LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]


# Defaults are Config's own, so the CLI and a Config built in code agree.
@click.command(context_settings={"auto_envvar_prefix": "SUBSERVE", "show_default": True})
# click derives automatic variables from parameter names (binds, fds, keepalive)
# and gives arguments none, so SUBSERVE_APP, SUBSERVE_BIND, SUBSERVE_FD and
# SUBSERVE_KEEP_ALIVE are explicit: a container image can be configured by them.
@click.argument("app", envvar="SUBSERVE_APP")
@click.option("--bind", "-b", "binds", multiple=True, envvar="SUBSERVE_BIND",
              help="HOST:PORT, [V6]:PORT or unix:PATH to listen on; repeatable.  [default: 127.0.0.1:8000]")
@click.option("--fd", "fds", multiple=True, type=int, envvar="SUBSERVE_FD", help="An inherited listening socket fd; repeatable.")
@click.option("--workers", "-w", type=click.IntRange(1, 1024), default=lambda: os.cpu_count() or 1,
              show_default="CPU count", help="Worker interpreters (each with its own GIL).")
@click.option("--worker-kind", type=click.Choice(["auto", "interpreter", "thread", "process"]),
              default=Config.worker_kind,
              help="Where the app runs: OWN_GIL subinterpreters, threads of the main interpreter, "
                   "or forked processes; auto: interpreters when the app loads in them, else "
                   "processes (threads on a free-threaded build).")
@click.option("--supervisor/--no-supervisor", default=Config.supervisor,
              help="Serve from a child process that a supervisor restarts when it dies "
                   "(a segfault, an OOM kill); --no-supervisor serves in this process.")
@click.option("--threads", type=click.IntRange(1, 256), default=Config.threads, help="Threads per interpreter.")
@click.option("--interface", type=click.Choice(["auto", "wsgi", "asgi"]), default=Config.interface,
              help="The app's interface; auto tells an async callable (ASGI) from WSGI.")
@click.option("--lifespan", type=click.Choice(["auto", "on", "off"]), default=Config.lifespan,
              help="ASGI lifespan events; auto runs them if the app supports them.")
@click.option("--factory", is_flag=True, help="APP names a factory: call it to get the app.")
@click.option("--app-dir", default=Config.app_dir, help="Directory put first on the workers' sys.path.")
@click.option("--keep-alive", "keepalive", type=float, envvar="SUBSERVE_KEEP_ALIVE", default=Config.keepalive, help="Idle seconds before a keep-alive connection is closed.")
@click.option("--header-timeout", type=float, default=Config.header_timeout, help="Seconds a request head may take to arrive.")
@click.option("--client-timeout", type=float, default=Config.client_timeout, help="Seconds a worker waits on a stalled client read or write.")
@click.option("--timeout", type=click.FloatRange(0), default=Config.timeout,
              help="Seconds a WSGI request may run without sending anything (its head or a "
                   "part of its body): then it is interrupted and answered 504. 0: never.")
@click.option("--graceful-timeout", type=float, default=Config.graceful_timeout, help="Seconds to finish in-flight requests on SIGTERM.")
@click.option("--backlog", type=click.IntRange(1), default=Config.backlog, help="listen() backlog.")
@click.option("--root-path", default=Config.root_path, help="SCRIPT_NAME prefix the app is mounted under.")
@click.option("--access-log/--no-access-log", default=Config.access_log, help="One log line per request.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default=Config.log_level)
@click.option("--ws-max-size", type=click.IntRange(1), default=Config.ws_max_size,
              help="Largest WebSocket message in bytes; bigger ones close with 1009.")
@click.option("--ws-ping-interval", type=click.FloatRange(0), default=Config.ws_ping_interval,
              help="Seconds between server pings on a WebSocket; 0 turns pings off.")
@click.option("--ws-ping-timeout", type=click.FloatRange(0, min_open=True), default=Config.ws_ping_timeout,
              help="Seconds a ping's pong may take before the WebSocket closes with 1011.")
@click.option("--ws-per-message-deflate/--no-ws-per-message-deflate", default=Config.ws_per_message_deflate,
              help="Accept permessage-deflate compression when a WebSocket client offers it.")
@click.option("--limit-request-line", type=click.IntRange(16, 65536), default=Config.limit_request_line)
@click.option("--limit-request-fields", type=click.IntRange(1, _engine.MAX_FIELDS_CAP),
              default=Config.limit_request_fields)
@click.option("--limit-request-field-size", type=click.IntRange(16, 65536), default=Config.limit_request_field_size)
@click.option("--limit-request-body", type=click.IntRange(0), default=Config.limit_request_body,
              help="Largest request body in bytes; larger ones are answered 413 and the "
                   "connection closed. 0: no limit.")
@click.version_option(package_name="subserve")
def serve(app: str, binds: tuple[str, ...], **options: object) -> None:
    """Serve the WSGI or ASGI app APP (module:attribute) from a pool of OWN_GIL subinterpreters.

    `subserve check APP` reports first whether APP can run in them.
    """
    config = Config(app=app, binds=binds or (() if options["fds"] else ("127.0.0.1:8000",)), **options)
    log.configure(config.log_level, "main")
    from subserve.supervisor.server import Server

    sys.exit(Server(config).run())


@click.command(context_settings={"show_default": True})
@click.argument("app")
@click.option("--factory", is_flag=True, help="APP names a factory: call it to get the app.")
@click.option("--app-dir", default=Config.app_dir, help="Directory put first on sys.path.")
@click.option("--json", "json_output", is_flag=True, help="Print the report as JSON.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=Config.boot_timeout,
              help="Seconds the isolated import may take.")
def check(app: str, factory: bool, app_dir: str, json_output: bool, timeout: float) -> None:
    """Import APP as a worker interpreter would, and report every module that
    refuses an isolated interpreter or loses its C accelerator there, and the
    worker kind auto would choose. Exit 0: interpreters can serve APP; 1: they
    cannot; 2: APP does not import at all."""
    from subserve import check as checking

    sys.exit(checking.run(app, factory=factory, app_dir=app_dir, json_output=json_output,
                          timeout=timeout))


def main(argv: list[str] | None = None) -> None:
    """The console entry point: ``check`` as the first argument is the
    subcommand, anything else is the server's command line."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["check"]:
        check.main(args[1:], prog_name="subserve check")
    else:
        serve.main(args, prog_name="subserve")
