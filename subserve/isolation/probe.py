"""Import an app in an isolated interpreter exactly as a worker would, and report.

Runs in: the main interpreter (``import_isolated``), and the OWN_GIL
interpreter it starts through the engine's pool (``inside``): the same
config as a worker's (check_multi_interp_extensions on), the same
``sys.path``, the same ``load_app``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from subserve import _engine
from subserve.isolation.appload import describe_load_error, load_app
from subserve.isolation.extensions import loaded_extensions, refusals_among
from subserve.isolation.refusal import Refusal, find_refusal

JOIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class IsolatedImport:
    """What importing the app in an isolated interpreter showed."""

    loaded: bool                      # the app imported there
    failure: str = ""                 # why not, for the user
    refusal: Refusal | None = None    # the refusal that stopped it, if one did
    extensions: list[str] = field(default_factory=list)  # extension modules loaded with it
    refused: list[Refusal] = field(default_factory=list)  # of the modules probed, those refusing


def import_isolated(app: str, factory: bool, search_path: list[str], probe: list[str],
                    timeout: float) -> IsolatedImport:
    """Import ``app`` in a new isolated interpreter, then try each module of
    ``probe`` there on its own; what happened (main waits with its GIL
    released, the interpreter is ended before this returns)."""
    program = ("import sys\n"
               f"sys.path[:] = {search_path!r}\n"
               "from subserve.isolation.probe import inside\n"
               f"inside({app!r}, {factory!r}, {probe!r}, __pool_id__, __worker_index__)\n")
    pool = _engine.pool_start(program, 1)
    try:
        deadline = time.monotonic() + timeout
        while True:
            [(state, reported, message)] = pool.wait(0.25)
            if state != _engine.WORKER_STARTING:
                break
            if time.monotonic() > deadline:
                return IsolatedImport(False, f"the app did not import within {timeout:.0f} s")
    finally:
        pool.join(JOIN_TIMEOUT)
        pool.destroy()
    if not reported:  # it ended (or failed) without reporting: message is its traceback
        return IsolatedImport(False, message or "the isolated interpreter failed")
    return _decode(message)


def _decode(message: str) -> IsolatedImport:
    raw = json.loads(message)
    refusal = raw["refusal"]
    return IsolatedImport(raw["loaded"], raw["failure"], Refusal(**refusal) if refusal else None,
                          raw["extensions"], [Refusal(**r) for r in raw["refused"]])


def inside(app: str, factory: bool, probe: list[str], pool_id: int, index: int) -> None:
    """In the isolated interpreter: import the app, note the extension modules
    it brought, try the probed ones, report it all to main as JSON."""
    try:
        load_app(app, factory)
        loaded, failure, refusal = True, "", None
    except BaseException as exc:  # noqa: BLE001 - every failure is the report
        loaded, failure, refusal = False, describe_load_error(app, exc), find_refusal(exc)
    extensions = loaded_extensions()  # before the probes load more
    report = {"loaded": loaded, "failure": failure,
              "refusal": asdict(refusal) if refusal else None, "extensions": extensions,
              "refused": [asdict(r) for r in refusals_among(probe)]}
    _engine.pool_bind(pool_id).report(index, True, json.dumps(report))
