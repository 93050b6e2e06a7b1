"""Fixtures shared by every test folder, and the hook that marks server tests.

Runs in: the test process (servers run in their own processes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.conn import Conn
from helpers.logs import ListHandler
from helpers.server import RunningServer, free_port

INTEGRATION = Path(__file__).parent / "integration"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``server`` every test that runs a subserve subprocess, so that
    ``-m "not server"`` keeps only the fast in-process tests."""
    for item in items:
        if item.path.is_relative_to(INTEGRATION) or "start_server" in item.fixturenames:
            item.add_marker(pytest.mark.server)


@pytest.fixture
def worker_kind(request: pytest.FixtureRequest) -> str | None:
    """The --worker-kind the servers of a test run with (None: the default,
    auto); tests/integration/conftest.py parametrizes it."""
    return getattr(request, "param", None)


@pytest.fixture
def start_server(worker_kind: str | None) -> Iterator[Callable[..., RunningServer]]:
    """start_server("app:wsgi", "--workers", "2") -> a ready RunningServer,
    of the test's worker kind unless the arguments name one."""
    servers: list[RunningServer] = []

    def start(app: str, *args: str, ready: bool = True, **kwargs) -> RunningServer:
        port = free_port()
        if worker_kind is not None and "--worker-kind" not in args:
            args = (*args, "--worker-kind", worker_kind)
        server = RunningServer([app, "--bind", f"127.0.0.1:{port}", *args], port, **kwargs)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def conn() -> Iterator[Conn]:
    """A socketpair: the handler under test writes to ``conn.fd``."""
    c = Conn()
    yield c
    c.close()


@pytest.fixture
def error_log() -> Iterator[tuple[logging.Logger, ListHandler]]:
    """A logger for the code under test, and the handler that keeps its records."""
    logger = logging.getLogger("subserve.test.error")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = ListHandler()
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)
