"""The PEP 3333 environ built from a head record (no socket involved)."""

from __future__ import annotations

import pytest
from helpers.items import build_record

from subserve.handoff import item as record
from subserve.handoff.item import CHUNKED, HTTP11, KEEP_ALIVE
from subserve.wsgi.environ import EnvironBuilder, decode_path, host_name_port, split_target

TCP_REMOTE = ("203.0.113.7", "51000")
TCP_SERVER = ("127.0.0.1", "8000")


def build(
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: bytes = b"GET",
    flags: int = KEEP_ALIVE | HTTP11,
    content_length: int = -1,
    remote: tuple[str, str] = TCP_REMOTE,
    server: tuple[str, str] = TCP_SERVER,
    builder: EnvironBuilder | None = None,
) -> dict:
    head = build_record(method, target, remote, server, headers or [(b"host", b"example.com")])
    return (builder or EnvironBuilder()).build(head, flags, content_length)


def test_record_split_and_fields() -> None:
    head = build_record(b"GET", b"/x", ("1.2.3.4", 5), ("0.0.0.0", 80),
                        [(b"Host", b"h"), (b"a", b"1")])
    parts = record.split(head)
    assert parts[record.METHOD] == "GET"
    assert parts[record.TARGET] == "/x"
    assert parts[record.REMOTE_PORT] == "5"
    assert record.fields(parts) == [("host", "h"), ("a", "1")]
    with pytest.raises(ValueError):
        build_record(b"GET", b"/\0", headers=[])


def test_basic_keys() -> None:
    env = build(b"/a/b?x=1&y=%20z", [(b"host", b"example.com"), (b"user-agent", b"t/1")])
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["RAW_URI"] == "/a/b?x=1&y=%20z"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["REMOTE_PORT"] == "51000"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == "8000"
    assert env["HTTP_HOST"] == "example.com"
    assert env["HTTP_USER_AGENT"] == "t/1"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.multithread"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert "CONTENT_LENGTH" not in env
    assert "CONTENT_TYPE" not in env


def test_http10_protocol() -> None:
    assert build(flags=0)["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_percent_decoding_is_bytewise_latin1() -> None:
    env = build(b"/caf%C3%A9/a%2Fb/%7e?q=%2F")
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b/~"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/a/b/~"
    assert env["QUERY_STRING"] == "q=%2F"  # the query stays raw


def test_invalid_percent_escape_kept() -> None:
    assert build(b"/100%/%zz/%4")["PATH_INFO"] == "/100%/%zz/%4"
    assert decode_path("/%41%42") == "/AB"


def test_obs_text_in_values_kept_as_latin1() -> None:
    env = build(headers=[(b"x-name", b"caf\xc3\xa9")])
    assert env["HTTP_X_NAME"] == "caf\xc3\xa9"


def test_content_type_and_length() -> None:
    env = build(method=b"POST", content_length=12,
                headers=[(b"content-type", b"text/plain"), (b"content-length", b"12")])
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "12"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_chunked_has_no_content_length() -> None:
    env = build(method=b"POST", flags=KEEP_ALIVE | HTTP11 | CHUNKED,
                headers=[(b"transfer-encoding", b"chunked")])
    assert "CONTENT_LENGTH" not in env
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_duplicate_fields_joined() -> None:
    env = build(headers=[(b"accept", b"a/b"), (b"x-a", b"1"), (b"accept", b"c/d"),
                         (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"accept", b"e/f")])
    assert env["HTTP_ACCEPT"] == "a/b, c/d, e/f"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_A"] == "1"


def test_underscore_names_dropped() -> None:
    env = build(headers=[(b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded_for", b"6.6.6.6"),
                         (b"x_secret", b"1")])
    assert env["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert "HTTP_X_SECRET" not in env


def test_root_path_prefix_moves_to_script_name() -> None:
    builder = EnvironBuilder(root_path="/app/")
    env = build(b"/app/x/y?z", builder=builder)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x/y")
    env = build(b"/app", builder=builder)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "")
    env = build(b"/application", builder=builder)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/application")
    env = build(b"/%61pp/x", builder=builder)  # matched after decoding
    assert env["PATH_INFO"] == "/x"


def test_absolute_form_target() -> None:
    env = build(b"http://other.example:8080/p/q?x=1", [(b"host", b"ignored")])
    assert env["PATH_INFO"] == "/p/q"
    assert env["QUERY_STRING"] == "x=1"
    assert env["HTTP_HOST"] == "other.example:8080"
    assert env["RAW_URI"] == "http://other.example:8080/p/q?x=1"
    assert build(b"http://h")["PATH_INFO"] == "/"


def test_asterisk_and_authority_form() -> None:
    env = build(b"*", method=b"OPTIONS")
    assert env["PATH_INFO"] == ""
    assert env["RAW_URI"] == "*"
    assert split_target("example.com:443") == ("", "", None)


def test_unix_socket_server_name_from_host() -> None:
    unix = {"remote": ("", ""), "server": ("/run/app.sock", "")}
    env = build(headers=[(b"host", b"example.com:8080")], **unix)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("", "")
    env = build(headers=[(b"accept", b"*/*")], **unix)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
    env = build(headers=[(b"host", b"[::1]:9000")], **unix)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("::1", "9000")
    env = build(headers=[(b"host", b"example.com")], builder=EnvironBuilder(url_scheme="https"),
                **unix)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "443")
    assert env["HTTPS"] == "on"


def test_host_name_port() -> None:
    assert host_name_port("a.b", "80") == ("a.b", "80")
    assert host_name_port("a.b:81", "80") == ("a.b", "81")
    assert host_name_port("[::1]", "80") == ("::1", "80")
    assert host_name_port("a.b:x", "80") == ("a.b:x", "80")


def test_template_not_shared_between_requests() -> None:
    builder = EnvironBuilder(extra={"wsgi.errors": "E"})
    first = build(headers=[(b"x-one", b"1")], builder=builder)
    first["mutated"] = True
    second = build(headers=[(b"x-two", b"2")], builder=builder)
    assert "HTTP_X_ONE" not in second
    assert "mutated" not in second
    assert second["wsgi.errors"] == "E"


def test_name_cache_is_bounded() -> None:
    builder = EnvironBuilder()
    for i in range(2000):
        env = build(headers=[(f"x-h{i}".encode(), b"v")], builder=builder)
        assert env[f"HTTP_X_H{i}"] == "v"
    assert len(builder._keys) <= 512
