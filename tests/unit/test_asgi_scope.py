"""The ASGI HTTP scope built from a head record, and partial-write bookkeeping.

Runs in: the test process (no socket, no loop).
"""

from __future__ import annotations

from helpers.items import build_record

from subserve.asgi.loopsocket import advance_buffers
from subserve.asgi.scope import build_scope
from subserve.handoff import item as record

TEMPLATE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "scheme": "http", "root_path": ""}


def test_build_scope_fields() -> None:
    head = build_record(b"GET", b"/caf%C3%A9/a%2Fb?x=1&y=%20", ("10.0.0.1", 5555),
                        ("127.0.0.1", 8000),
                        [(b"Host", b"h"), (b"X-A", b"1"), (b"x-a", b"2")])
    state = {"k": "v"}
    scope = build_scope(TEMPLATE, record.HTTP11 | record.KEEP_ALIVE, head, state)
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["headers"] == [(b"host", b"h"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert scope["client"] == ("10.0.0.1", 5555)
    assert scope["server"] == ("127.0.0.1", 8000)
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["state"] == state and scope["state"] is not state


def test_build_scope_unix_socket_and_http10() -> None:
    head = build_record(b"POST", b"/p", ("", ""), ("/tmp/s.sock", ""))
    scope = build_scope(TEMPLATE, 0, head, {})
    assert scope["client"] is None and scope["server"] is None
    assert scope["http_version"] == "1.0"


def test_advance_partial_writes() -> None:
    assert advance_buffers([b"abc", b"de"], 4) == [b"e"]
    assert [bytes(b) for b in advance_buffers([b"abc", b"de"], 1)] == [b"bc", b"de"]
    assert advance_buffers([b"abc"], 3) == []
