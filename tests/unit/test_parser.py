"""The C request-head parser (ext/http_parse.c) against its corpus, h11 and httptools.

Runs in: tests only (main interpreter).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import h11
import httptools
import pytest

from subserve._engine import parse_head


def _load_corpus():
    path = Path(__file__).parent / "parser" / "corpus.py"
    spec = importlib.util.spec_from_file_location("subserve_parser_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()
CASES = corpus.CASES
REFUSALS = {-400, -413, -414, -431, -501, -505}
OWS = b" \t"


# ---- one outcome shape for all three parsers ----

@dataclass(frozen=True)
class Outcome:
    verdict: str  # "accept", "reject" or "incomplete"
    head: tuple | None = None  # (method, target, version, fields) when accepted
    detail: str = ""


def ours(raw: bytes, **limits) -> Outcome:
    result = parse_head(raw, **limits)
    if result == 0:
        return Outcome("incomplete")
    if isinstance(result, int):
        return Outcome("reject", detail=str(result))
    _, method, target, minor, _, _, fields = result
    return Outcome("accept", (method, target, b"1.%d" % minor, tuple(fields)))


def run_h11(raw: bytes) -> Outcome:
    conn = h11.Connection(h11.SERVER)
    if raw:  # receive_data(b"") would mean end of stream
        conn.receive_data(raw)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        return Outcome("reject", detail=f"{exc.error_status_hint} {exc}")
    if event is h11.NEED_DATA:
        return Outcome("incomplete")
    head = (event.method, event.target, event.http_version, tuple(event.headers.raw_items()))
    return Outcome("accept", (head[0], head[1], head[2], tuple((n.lower(), v) for n, v in head[3])))


class _Collector:
    """httptools callbacks for the first message only."""

    def __init__(self) -> None:
        self.url, self.fields, self.done = b"", [], False

    def on_url(self, url: bytes) -> None:
        if not self.done:
            self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done:
            self.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.done = True


def run_httptools(raw: bytes) -> Outcome:
    collected = _Collector()
    parser = httptools.HttpRequestParser(collected)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # Upgrade and CONNECT stop llhttp after a valid head
    except httptools.HttpParserError as exc:
        return Outcome("reject", detail=f"{type(exc).__name__} {exc}")
    if not collected.done:
        return Outcome("incomplete")
    version = parser.get_http_version().encode()
    # llhttp leaves trailing OWS in values: not a verdict difference.
    fields = tuple((n, v.rstrip(OWS)) for n, v in collected.fields)
    return Outcome("accept", (parser.get_method(), collected.url, version, fields))


REFERENCES = {"h11": run_h11, "httptools": run_httptools}

# h11 rewrites these values (joins duplicates, lower-cases codings): compare names only.
H11_REWRITTEN = {b"content-length", b"transfer-encoding"}


def _comparable(name: str, head: tuple) -> tuple:
    if name != "h11":
        return head
    fields = tuple((n, None if n in H11_REWRITTEN else v) for n, v in head[3])
    fields = tuple(f for i, f in enumerate(fields) if f[0] not in H11_REWRITTEN or f not in fields[:i])
    return head[:3] + (fields,)


def agrees(name: str, mine: Outcome, theirs: Outcome) -> bool:
    if mine.verdict != theirs.verdict:
        return False
    return mine.verdict != "accept" or _comparable(name, mine.head) == _comparable(name, theirs.head)


# ---- the corpus ----

def _expected_tuple(case) -> tuple:
    e = case.expect
    head_len = len(case.raw) if e.head_len is None else e.head_len
    return (head_len, e.method, e.target, e.minor, e.flags, e.content_length, list(e.fields))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_verdict(case):
    got = parse_head(case.raw)
    if isinstance(case.expect, int):
        assert got == case.expect
    else:
        assert got == _expected_tuple(case)


@pytest.mark.parametrize("ref", sorted(REFERENCES))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_against_reference(case, ref):
    mine, theirs = ours(case.raw), REFERENCES[ref](case.raw)
    if ref in case.explain:
        assert not agrees(ref, mine, theirs), f"stale explanation: {ref} now agrees ({theirs})"
    else:
        assert agrees(ref, mine, theirs), f"{ref} differs without explanation: us {mine}, {ref} {theirs}"


def test_corpus_names_unique_and_explained():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert set(case.explain) <= set(REFERENCES)
        assert all(len(why) > 20 for why in case.explain.values())


# ---- every byte value in every part, at offsets that cover the 8-byte skips ----

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
VALUE_OK = frozenset(range(0x21, 0x7F)) | frozenset(range(0x80, 0x100)) | {0x20, 0x09}


@pytest.mark.parametrize("offset", range(0, 20))
def test_every_byte_in_a_field_value(offset):
    for byte in range(256):
        value = b"v" * offset + bytes([byte]) + b"v" * 20
        result = parse_head(corpus.get(b"X-A: " + value))
        if byte in VALUE_OK:
            assert result[6][-1] == (b"x-a", value.strip(OWS)), byte
        else:
            assert result == -400, byte


@pytest.mark.parametrize("offset", range(0, 20))
def test_every_byte_in_a_target(offset):
    for byte in range(256):
        target = b"/" + b"t" * offset + bytes([byte]) + b"t" * 20
        result = parse_head(corpus.get(target=target))
        if 0x21 <= byte <= 0x7E:
            assert result[2] == target, byte
        else:
            assert result == -400, byte


def test_every_byte_in_a_field_name_and_method():
    for byte in range(256):
        name = b"X-" + bytes([byte]) + b"-Name"
        by_name = parse_head(corpus.get(name + b": v"))
        by_method = parse_head(b"G" + bytes([byte]) + b"T / HTTP/1.1\r\n" + corpus.HOST + b"\r\n")
        if byte == ord(":"):
            assert by_name[6][-1] == (b"x-", b"-Name: v")
            assert by_method == -400
        elif byte in TCHAR:
            assert by_name[6][-1] == (name.lower(), b"v"), byte
            assert by_method[1] == b"G" + bytes([byte]) + b"T", byte
        else:
            assert by_name == by_method == -400, byte


# ---- incremental feeding ----

VALID_CASES = [c for c in CASES if not isinstance(c.expect, int)]


@pytest.mark.parametrize("case", VALID_CASES, ids=[c.name for c in VALID_CASES])
def test_every_split_of_a_valid_head_waits(case):
    full = parse_head(case.raw)
    head = case.raw[: full[0]]
    for cut in range(len(head)):
        assert parse_head(head[:cut]) == 0, cut
    assert parse_head(head) == full


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_prefix_waits_or_gives_the_final_verdict(case):
    final = parse_head(case.raw)
    for cut in range(len(case.raw)):
        assert parse_head(case.raw[:cut]) in (0, final), cut


# ---- limits ----

def _line(target_len: int) -> bytes:
    """A request line (without CRLF) of 'GET /aaa HTTP/1.1' totalling target_len + 13 bytes."""
    return b"GET /" + b"a" * (target_len - 1) + b" HTTP/1.1"


def test_request_line_limit_boundary():
    line = _line(50)
    head = line + b"\r\n" + corpus.HOST + b"\r\n"
    assert parse_head(head, max_line=len(line))[0] == len(head)
    assert parse_head(head, max_line=len(line) - 1) == -414


def test_request_line_too_long_is_refused_before_it_ends():
    assert parse_head(b"GET /" + b"a" * 95, max_line=100) == 0
    assert parse_head(b"GET /" + b"a" * 96, max_line=100) == 0  # 101 bytes: may be 100 + CR
    assert parse_head(b"GET /" + b"a" * 97, max_line=100) == -414
    assert parse_head(b"GET /" + b"a" * 100_000) == -414


def test_too_many_fields():
    lines = [b"X-%d: v" % i for i in range(4)]
    assert isinstance(parse_head(corpus.get(*lines[:3]), max_fields=4), tuple)  # Host + 3
    assert parse_head(corpus.get(*lines), max_fields=4) == -431
    # refused as soon as the fifth field starts, before the head is complete
    fifth_started = b"GET / HTTP/1.1\r\n" + corpus.HOST + b"".join(x + b"\r\n" for x in lines[:3]) + b"X"
    assert parse_head(fifth_started, max_fields=4) == -431
    assert parse_head(fifth_started[:-1], max_fields=4) == 0


def test_field_line_limit_boundary():
    field = b"X-Big: " + b"v" * 93  # 100 bytes
    assert isinstance(parse_head(corpus.get(field), max_field=100), tuple)
    assert parse_head(corpus.get(field), max_field=99) == -431
    assert parse_head(b"GET / HTTP/1.1\r\n" + field + b"v" * 10, max_field=100) == -431
    assert parse_head(b"GET / HTTP/1.1\r\n" + field[:90], max_field=100) == 0


def test_head_limit_boundary():
    head = corpus.get(b"X-A: " + b"v" * 200)
    assert parse_head(head, max_head=len(head))[0] == len(head)
    assert parse_head(head, max_head=len(head) - 1) == -431
    assert parse_head(head[:-2], max_head=len(head) - 1) == 0  # no byte over the limit yet
    assert parse_head(head[:-1], max_head=len(head) - 1) == -431  # the final LF cannot fit
    assert parse_head(head[:100], max_head=99) == -431


def test_tightest_limit_decides_the_status():
    head = corpus.get()  # request line: 14 bytes + CRLF
    assert parse_head(head, max_line=10, max_head=100) == -414
    assert parse_head(head, max_line=100, max_head=10) == -431
    assert parse_head(head, max_head=0) == -431
    assert parse_head(b"", max_head=0) == 0


def test_default_limits():
    many = corpus.get(*[b"X-%d: v" % i for i in range(99)])
    assert isinstance(parse_head(many), tuple)  # 100 fields with Host
    assert parse_head(corpus.get(*[b"X-%d: v" % i for i in range(100)])) == -431
    assert parse_head(corpus.get(b"X: " + b"v" * 9000)) == -431
    assert parse_head(corpus.get(*[b"X-%d: %s" % (i, b"v" * 1000) for i in range(70)])) == -431


def test_limit_arguments_are_checked():
    with pytest.raises(ValueError):
        parse_head(corpus.get(), max_fields=257)
    with pytest.raises(ValueError):
        parse_head(corpus.get(), max_line=-1)
    with pytest.raises(TypeError):
        parse_head(corpus.get(), 100)  # limits are keyword-only
    assert parse_head(bytearray(corpus.get()))[0] == len(corpus.get())
    assert parse_head(memoryview(corpus.get()))[0] == len(corpus.get())


# ---- mutation fuzzing ----

SEEDS = [c.raw[: parse_head(c.raw)[0]] for c in VALID_CASES]
BYTES = b"\r\n \t:,;\x00\x01\x0b\x7f\x80\xff0159aAzZ-/.*@[]"
TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b"chunked", b"gzip", b", ", b"HTTP/1.0", b"HTTP/1.1", b"HTTP/2.0",
    b"Content-Length: 7\r\n", b"Content-Length: 8\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Host: h\r\n", b"Connection: close\r\n", b"Connection: upgrade\r\n", b"Upgrade: ws\r\n",
    b"Expect: 100-continue\r\n", b" folded\r\n", b"\r\n\r\n", b"99999999999999999999",
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op, at = rng.randrange(6), rng.randint(0, len(data))
        if op == 0:
            data[at:at] = bytes([rng.choice(BYTES)])
        elif op == 1 and data:
            del data[at : at + rng.randint(1, 4)]
        elif op == 2 and at < len(data):
            data[at] = rng.choice(BYTES)
        elif op == 3:
            data[at:at] = rng.choice(TOKENS)
        elif op == 4:
            lines = bytes(data).split(b"\r\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\r\n".join(lines))
        else:
            del data[at:]
    return bytes(data)


def _h11_difference(raw: bytes, accepted: tuple) -> str | None:
    """The documented class (see corpus.py) that explains h11 refusing a head we accept."""
    fields = accepted[6]
    if raw.startswith(b"\r\n"):
        return corpus.H11_NO_LEADING
    lengths = {m.strip(OWS) for n, v in fields if n == b"content-length" for m in v.split(b",")}
    if len(lengths) > 1:
        return corpus.H11_CL_NUMERIC
    return None


def test_mutation_fuzz():
    rng = random.Random(20261122)
    accepted = refused = 0
    for _ in range(10_000):
        raw = _mutate(rng, rng.choice(SEEDS))
        result = parse_head(raw)
        assert isinstance(result, tuple) or result == 0 or result in REFUSALS, (raw, result)
        for cut in range(0, len(raw), 3):
            assert parse_head(raw[:cut]) in (0, result), (raw, cut)
        if not isinstance(result, tuple):
            refused += result != 0
            continue
        accepted += 1
        assert 0 < result[0] <= len(raw)
        assert parse_head(raw[: result[0]]) == result
        if run_h11(raw).verdict != "accept":
            assert _h11_difference(raw, result), (raw, result, run_h11(raw))
    assert accepted > 1000 and refused > 1000  # the mutations reach both sides


def test_random_bytes_never_crash():
    rng = random.Random(7)
    for _ in range(2000):
        raw = bytes(rng.choice(BYTES) for _ in range(rng.randint(0, 64)))
        result = parse_head(raw, max_line=rng.randint(0, 40), max_head=rng.randint(0, 80),
                            max_fields=rng.randint(0, 4), max_field=rng.randint(0, 20))
        assert isinstance(result, tuple) or result == 0 or result in REFUSALS
