"""Apps whose C extensions refuse OWN_GIL subinterpreters, served anyway.

Runs in: the test process (the server runs in its own process). FastAPI
(pydantic-core) and Litestar (msgspec) under the default worker kind, which
must switch to processes and say why; SQLAlchemy 2.1 on sqlite under the
process kind, its processes sharing one database file.
"""

from __future__ import annotations

import concurrent.futures
import re

import httpx
import pytest

pytestmark = pytest.mark.kinds("auto")


def switched_to_processes(server, distribution: str, module: str) -> None:
    """The one line auto logs: the distribution and module that refused, the kind."""
    line = server.wait_for_log("does not support subinterpreters")
    assert re.search(rf"{distribution} [\w.]+ \(module {re.escape(module)}\) does not support "
                     r"subinterpreters: serving \S+ with worker kind 'process'", line), line
    assert "2 worker processes ready" in server.wait_for_log("listening on")


def test_fastapi_with_pydantic_models(start_server) -> None:
    pytest.importorskip("fastapi")
    server = start_server("fastapi_app:app", "--workers", "2")
    switched_to_processes(server, "pydantic_core", "pydantic_core._pydantic_core")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/").json()["hello"] == "fastapi"
        order = client.post("/orders", json={"item": "tea", "quantity": 4})
        assert order.status_code == 200 and order.json() == {"item": "tea", "quantity": 4,
                                                             "total": 12}
        invalid = client.post("/orders", json={"item": "", "quantity": 0})
        assert invalid.status_code == 422  # pydantic's validation, in C
        fields = {tuple(e["loc"]) for e in invalid.json()["detail"]}
        assert fields == {("body", "item"), ("body", "quantity")}
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_fastapi_requests_reach_both_processes(start_server) -> None:
    pytest.importorskip("fastapi")
    server = start_server("fastapi_app:app", "--workers", "2", "--no-access-log")

    def pid(_: int) -> int:
        return httpx.get(server.url + "/").json()["pid"]  # a new connection each time

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pids = set(pool.map(pid, range(64)))
    assert len(pids) == 2 and server.proc.pid not in pids


@pytest.mark.parametrize("supervised", [True, False], ids=["supervisor", "no-supervisor"])
def test_litestar_with_msgspec(start_server, supervised: bool) -> None:
    """Without a supervisor, auto execs itself as the process kind: the
    refused import of msgspec in this process must not reach the workers
    (it would: msgspec's ValidationError would no longer be caught, a 500)."""
    pytest.importorskip("litestar")
    server = start_server("litestar_app:app", "--workers", "2",
                          *(() if supervised else ("--no-supervisor",)))
    switched_to_processes(server, "msgspec", "msgspec._core")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/").json() == {"hello": "litestar"}
        order = client.post("/orders", json={"item": "tea", "quantity": 4})
        assert order.status_code == 201 and order.json()["total"] == 12
        assert client.post("/orders", json={"item": "tea", "quantity": "many"}).status_code == 400
    assert server.stop() == 0


@pytest.mark.kinds("process")
def test_sqlalchemy_on_sqlite_in_processes(start_server, tmp_path) -> None:
    pytest.importorskip("sqlalchemy")
    db = tmp_path / "notes.db"
    server = start_server("sqlalchemy_app:app", "--workers", "2", "--no-access-log",
                          env={"SQLALCHEMY_DB": str(db)})
    with httpx.Client(base_url=server.url) as client:
        for n in range(5):
            assert client.post("/", content=f"note {n}").status_code == 200

    def notes(_: int) -> tuple[int, list[str]]:
        answer = httpx.get(server.url + "/").json()
        return answer["pid"], answer["notes"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(notes, range(32)))
    assert {tuple(n) for _, n in seen} == {tuple(f"note {i}" for i in range(5))}
    assert len({pid for pid, _ in seen}) == 2  # both processes read the one database
    assert server.stop() == 0
