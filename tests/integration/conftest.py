"""Fixtures of the tests against a real server.

Runs in: the test process (servers run as subprocesses with cwd tests/apps).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.server import RunningServer


@pytest.fixture
def asgi_server(start_server, tmp_path: Path) -> RunningServer:
    """asgi_apps:app on two workers; its marker files go to tmp_path."""
    return start_server("asgi_apps:app", "--workers", "2",
                        env={"ASGI_MARKER_DIR": str(tmp_path)})
