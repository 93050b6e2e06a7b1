"""Real frameworks served by a real server: Flask, Django on sqlite, and an app
wrapped in wsgiref's PEP 3333 validator.

Runs in: the test process (the server runs in its own process).
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
from helpers.server import raw_request

WORKERS = ("--workers", "2")


def assert_clean_log(log: str) -> None:
    """No traceback, failed assertion or ignored exception reached stderr."""
    for marker in ("Traceback", "AssertionError", "Exception ignored"):
        assert marker not in log, f"{marker!r} in the server log:\n{log}"


# -- Flask -------------------------------------------------------------------


def test_flask_routes_json_form_404_and_error_handler(start_server) -> None:
    server = start_server("flask_app:app", *WORKERS)
    with httpx.Client(base_url=server.url) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.text == "Flask says hello"
        assert index.headers["content-type"].startswith("text/html")

        square = client.get("/square/12")
        assert square.status_code == 200
        assert square.headers["content-type"] == "application/json"
        assert square.json()["square"] == 144

        order = client.post("/order", data={"item": "tea", "quantity": "4"})
        assert order.status_code == 200
        assert order.json() == {"item": "tea", "quantity": 4, "total": 12}

        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert missing.json() == {"error": "not found", "path": "/no/such/page"}

        refused = client.post("/order", data={"item": "unicorn"})
        assert refused.status_code == 409
        assert refused.json() == {"error": "no unicorn left"}

        wrong_method = client.get("/order")
        assert wrong_method.status_code == 405
    assert_clean_log(server.log())


def test_flask_concurrent_requests_on_fresh_connections(start_server) -> None:
    server = start_server("flask_app:app", *WORKERS)

    def square(n: int) -> int:
        response = httpx.get(f"{server.url}/square/{n}")
        assert response.status_code == 200
        return response.json()["square"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(square, range(40))) == [n * n for n in range(40)]


# -- Django ------------------------------------------------------------------


def test_django_sqlite_writes_and_reads_rows(start_server, tmp_path) -> None:
    db = tmp_path / "notes.sqlite3"
    server = start_server("django_app:app", *WORKERS, env={"DJANGO_APP_DB": str(db)})
    texts = [f"note {i}" for i in range(6)]
    for text in texts:  # fresh connection each: either worker may take it
        response = httpx.post(f"{server.url}/notes", data={"text": text})
        assert response.status_code == 200, response.text
        assert response.json()["notes"][-1]["text"] == text

    listing = httpx.get(f"{server.url}/notes")
    assert listing.status_code == 200
    assert [note["text"] for note in listing.json()["notes"]] == texts

    with sqlite3.connect(db) as conn:  # the rows really are in the file
        rows = conn.execute("SELECT text FROM note ORDER BY id").fetchall()
    assert [text for (text,) in rows] == texts

    assert httpx.get(f"{server.url}/missing").status_code == 404
    assert httpx.put(f"{server.url}/notes").status_code == 405
    assert_clean_log(server.log())


def test_django_concurrent_writes_from_both_workers(start_server, tmp_path) -> None:
    db = tmp_path / "notes.sqlite3"
    server = start_server("django_app:app", *WORKERS, env={"DJANGO_APP_DB": str(db)})

    def post(i: int) -> int:
        response = httpx.post(f"{server.url}/notes", data={"text": f"c{i}"})
        assert response.status_code == 200, response.text
        return response.json()["interp"]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(post, range(16)))
    notes = httpx.get(f"{server.url}/notes").json()["notes"]
    assert sorted(note["text"] for note in notes) == sorted(f"c{i}" for i in range(16))
    assert len({note["id"] for note in notes}) == 16
    assert_clean_log(server.log())


# -- wsgiref.validate --------------------------------------------------------


def test_validator_wrapped_app_sees_no_pep3333_violation(start_server) -> None:
    server = start_server("validated:app", *WORKERS)
    with httpx.Client(base_url=server.url) as client:
        get = client.get("/v/path", params={"q": "1"})
        assert get.status_code == 200
        assert get.text == "GET /v/path?q=1"

        post = client.post("/submit", content=b"hello body")
        assert post.status_code == 200
        assert post.text == "got 10 bytes: hello body"

        empty = client.post("/submit", content=b"")
        assert empty.status_code == 200
        assert empty.text == "got 0 bytes: "

        head = client.head("/v/path")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len("HEAD /v/path?"))
        assert head.content == b""

    # HTTP/1.0 and a HEAD over a raw socket: no body bytes after the head
    raw = raw_request(server.port, b"HEAD /raw HTTP/1.0\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.endswith(b"\r\n\r\n")
    raw = raw_request(server.port, b"GET /raw?x HTTP/1.0\r\nHost: x\r\n\r\n")
    assert raw.endswith(b"\r\n\r\nGET /raw?x")

    assert server.stop() == 0
    assert_clean_log(server.log())
