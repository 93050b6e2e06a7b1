"""``subserve check APP``: what refuses an isolated interpreter, before deploying.

Runs in: the test process; ``subserve check`` runs as a subprocess in tests/apps.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.server import APPS


def check(app: str, *args: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "subserve", "check", app, *args], cwd=APPS,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_a_flask_app_is_clean() -> None:
    code, out = check("flask_app:app")
    assert code == 0, out
    assert "isolated interpreter: imports" in out
    assert "refuse" not in out and "lose" not in out
    assert "--worker-kind auto serves it with: interpreter" in out


def test_fastapi_refuses_through_pydantic_core() -> None:
    pytest.importorskip("fastapi")
    code, out = check("fastapi_app:app")
    assert code == 1, out
    assert "isolated interpreter: does not import" in out
    assert "pydantic_core" in out and "(module pydantic_core._pydantic_core)" in out
    assert "--worker-kind auto serves it with: process" in out  # a GIL build here


def test_pyyaml_loads_but_loses_libyaml() -> None:
    pytest.importorskip("yaml")
    code, out = check("yaml_app:app")
    assert code == 0, out
    lost = out.split("lose their C accelerator")[1]
    assert "PyYAML" in lost and "(module yaml._yaml)" in lost, out


def test_an_app_that_does_not_import_exits_2() -> None:
    code, out = check("broken:app")
    assert code == 2
    assert "broken.py refuses to import: configuration missing" in out


def test_json_for_ci() -> None:
    code, out = check("refuses:app", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["exit_code"] == 1 and report["kind"] == "process"
    assert report["isolated"]["loaded"] is False
    refused = {r["module"]: r for r in report["isolated"]["refused"]}
    assert refused["httptools.parser.parser"]["distribution"] == "httptools"
    assert refused["httptools.parser.parser"]["version"]
    assert report["isolated"]["refusal"]["module"] == "httptools.parser.parser"
