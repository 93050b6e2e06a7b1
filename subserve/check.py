"""``subserve check APP``: can this app run in OWN_GIL worker interpreters?

Runs in: the main interpreter of its own process (it imports the app there,
on purpose: unlike the server, which never does for the interpreter kind),
and one isolated interpreter it starts.

It imports APP in the main interpreter, noting the C extension modules it
brings; imports APP in an isolated interpreter exactly as a worker would;
then tries each of those extension modules there on its own. It reports
every module that refused (with its distribution and version), every one
present in main but absent from the isolated import (an accelerator lost:
the package fell back to pure Python), and the worker kind ``auto`` would
choose, with why. Exit 0 when the interpreter kind can serve APP, 1 when
not, 2 when APP cannot be imported at all.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import asdict, dataclass
from typing import Any

from subserve.config import PACKAGE_ROOT
from subserve.handoff.settings import search_path
from subserve.isolation.appload import load_app
from subserve.isolation.extensions import loaded_extensions
from subserve.isolation.probe import IsolatedImport, import_isolated
from subserve.isolation.refusal import Refusal, refusal_for
from subserve.supervisor.fallback import build, fallback_kind

EXIT_SERVES, EXIT_REFUSES, EXIT_BROKEN = 0, 1, 2


@dataclass(frozen=True)
class Report:
    app: str
    extensions: list[str]          # extension modules the app loads in main
    isolated: IsolatedImport
    lost: list[Refusal]            # loaded in main, absent from the isolated import
    kind: str                      # what --worker-kind auto chooses
    why: str

    @property
    def exit_code(self) -> int:
        return EXIT_SERVES if self.isolated.loaded else EXIT_REFUSES


def check(app: str, *, factory: bool, app_dir: str, timeout: float) -> Report:
    """Import ``app`` in main, then isolated (raises what main's import raises)."""
    for path in (os.getcwd(), os.path.abspath(app_dir)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import _datetime  # noqa: F401 - every 3.13.x needs it in main first (docs/design.md)

    load_app(app, factory)
    extensions = loaded_extensions()
    isolated = import_isolated(app, factory, list(search_path(PACKAGE_ROOT, app_dir, sys.path)),
                               extensions, timeout)
    lost = ([refusal_for(m) for m in extensions if m not in isolated.extensions]
            if isolated.loaded else [])
    if isolated.loaded:
        kind, why = "interpreter", "the app loads in an isolated interpreter"
    else:
        kind = fallback_kind()
        why = f"{isolated.refusal or 'its import'} refuses an isolated interpreter, and this is {build()}"
    return Report(app, extensions, isolated, lost, kind, why)


def render(report: Report) -> str:
    """The report for a terminal."""
    iso = report.isolated
    lines = [f"subserve check {report.app}",
             f"  main interpreter: imports, with {len(report.extensions)} extension module(s)",
             "  isolated interpreter: " + ("imports" if iso.loaded else "does not import")]
    if not iso.loaded and not iso.refusal:
        lines += ["    " + line for line in iso.failure.splitlines()]
    if iso.refused:
        lines.append("  refuse an isolated interpreter" + (
            " (the app imports without them):" if iso.loaded else ":"))
        lines += [f"    {r}" for r in iso.refused]
    if report.lost:
        lines.append("  load, but lose their C accelerator (absent from the isolated import):")
        lines += [f"    {r}" for r in report.lost]
    lines.append(f"  --worker-kind auto serves it with: {report.kind} ({report.why})")
    return "\n".join(lines)


def as_json(report: Report) -> str:
    data: dict[str, Any] = asdict(report)
    data["exit_code"] = report.exit_code
    return json.dumps(data, indent=2)


def run(app: str, *, factory: bool, app_dir: str, json_output: bool, timeout: float) -> int:
    """The command: print the report; the exit code."""
    try:
        report = check(app, factory=factory, app_dir=app_dir, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - an app that does not import is the answer
        detail = "".join(traceback.format_exception(exc)).rstrip()
        if json_output:
            print(json.dumps({"app": app, "error": detail, "exit_code": EXIT_BROKEN}, indent=2))
        else:
            print(f"subserve check {app}: the app does not import in the main interpreter:\n"
                  f"{detail}", file=sys.stderr)
        return EXIT_BROKEN
    print(as_json(report) if json_output else render(report))
    return report.exit_code
