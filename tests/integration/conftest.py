"""Fixtures of the tests against a real server.

Runs in: the test process (servers run as subprocesses with cwd tests/apps).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.server import KINDS, RunningServer


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every server test runs once per worker kind: one behaviour, whatever
    runs the app. A test that is about one kind says which (``kinds``)."""
    if "worker_kind" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("kinds")
    kinds = marker.args if marker is not None else KINDS
    metafunc.parametrize("worker_kind", kinds, indirect=True, ids=[f"kind={k}" for k in kinds])


@pytest.fixture
def asgi_server(start_server, tmp_path: Path) -> RunningServer:
    """asgi_apps:app on two workers; its marker files go to tmp_path."""
    return start_server("asgi_apps:app", "--workers", "2",
                        env={"ASGI_MARKER_DIR": str(tmp_path)})
