"""What main tells a worker: the typed settings, their bootstrap program, the engine check.

Runs in: the test process.
"""

from __future__ import annotations

import ast
import dataclasses

import pytest
from helpers.settings import worker_settings

from subserve import _engine
from subserve.config import PACKAGE_ROOT, Config
from subserve.handoff.settings import WebSocketSettings, WorkerSettings
from subserve.worker.bootstrap import engine_mismatch


def program_call(program: str) -> ast.Call:
    """The ``main(...)`` call of a bootstrap program."""
    *_, last = ast.parse(program).body
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
    return last.value


def test_every_config_option_a_worker_needs_reaches_it() -> None:
    config = Config(app="pkg.mod:app", factory=True, threads=3, root_path="/r",
                    interface="asgi", lifespan="on", access_log=False, log_level="debug",
                    client_timeout=7.5, keepalive=2.5, ws_max_size=99, ws_ping_interval=1.5,
                    ws_ping_timeout=2.0, ws_per_message_deflate=False)
    settings = config.worker_settings(11, 12)
    assert (settings.app, settings.factory, settings.threads, settings.root_path) == (
        "pkg.mod:app", True, 3, "/r")
    assert (settings.interface, settings.lifespan, settings.access_log, settings.log_level) == (
        "asgi", "on", False, "debug")
    assert (settings.client_timeout, settings.keep_alive) == (7.5, 2.5)
    assert settings.websocket == WebSocketSettings(99, 1.5, 2.0, False)
    assert (settings.queue_id, settings.engine_id) == (11, 12)
    assert settings.engine_image == _engine.IMAGE_ID


def test_the_program_carries_plain_literals_that_rebuild_the_settings() -> None:
    settings = worker_settings(7, 8, app="a:b", threads=2, root_path="/x'\"y")
    call = program_call(settings.bootstrap_program())
    assert isinstance(call.func, ast.Name) and call.func.id == "main"
    raw = ast.literal_eval(call.args[0])  # plain literals only: nothing to execute
    assert WorkerSettings.from_dict(raw) == settings
    assert {kw.arg for kw in call.keywords} == {"pool_id", "index"}
    assert "sys.path[:] = " in settings.bootstrap_program()


def test_settings_have_no_defaults_of_their_own() -> None:
    # Config is the one place defaults live: a field forgotten there fails loudly
    for cls in (WorkerSettings, WebSocketSettings):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    with pytest.raises(TypeError):
        WorkerSettings(app="a:b")  # type: ignore[call-arg]


def test_the_search_path_starts_with_the_running_copy_of_subserve() -> None:
    path = worker_settings(app_dir="/elsewhere").search_path
    assert path[:2] == (PACKAGE_ROOT, "/elsewhere")
    assert _engine.__file__.startswith(PACKAGE_ROOT)  # the copy main runs is the one first
    assert len(path) == len(set(path))


def test_a_worker_with_another_copy_of_the_engine_refuses_to_serve() -> None:
    settings = worker_settings()
    assert engine_mismatch(settings) is None
    other = dataclasses.replace(settings, engine_image=settings.engine_image + 1,
                                engine_file="/somewhere/else/_engine.so")
    message = engine_mismatch(other)
    assert message is not None
    assert _engine.__file__ in message and "/somewhere/else/_engine.so" in message
