"""Keeps tests/unit in-process: a test here that starts a subprocess or listens
on a socket fails at once, naming tests/integration as its place.

Socketpairs, pipes, subinterpreters and an asyncio loop (its self-pipe is a
socketpair) are in-memory and stay allowed.

Runs in: the test process.
"""

from __future__ import annotations

import socket
import subprocess
from typing import NoReturn

import pytest

REFUSAL = ("tests/unit runs in-process: no subprocess and no listening socket "
           "(a test that needs a server belongs in tests/integration)")


def _refuse(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError(REFUSAL)


@pytest.fixture(autouse=True)
def in_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)  # run() and check_output() too
    monkeypatch.setattr(socket.socket, "listen", _refuse)  # asyncio servers listen through it
