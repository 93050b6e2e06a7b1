"""Request-head corpus for subserve's C parser (ext/http_parse.c).

Each case is raw bytes and the verdict `parse_head` must give: an `Accept`
(the parsed head), `INCOMPLETE` (0) or a negative status. Bytes literals keep
every CR and LF explicit.

`explain` maps a reference parser ("h11", "httptools") to the reason it
disagrees with us on that case; tests/unit/test_parser.py checks that the listed
parsers do disagree and the others agree, so an explanation cannot go stale.
Agreement means the same verdict class (accept / reject / incomplete) and,
when both accept, the same method, target, version and fields.

Runs in: tests only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEEP_ALIVE, CHUNKED, EXPECT_CONTINUE, UPGRADE, HTTP11 = 1, 2, 4, 8, 16
KA11 = KEEP_ALIVE | HTTP11
INCOMPLETE = 0

# Reasons shared by several cases.
H11_BARE_LF = "h11 accepts a bare LF as a line ending; we require CRLF (RFC 9112 2.2 allows either, lenient parsing enables smuggling)"
H11_NO_LEADING = "h11 refuses empty lines before the request line; RFC 9112 2.2 says a server SHOULD ignore at least one"
H11_OBS_FOLD = "h11 unfolds obs-fold; we answer 400 as RFC 9112 5.2 allows"
H11_CTL = "h11 lets control characters other than NUL and whitespace into field values; RFC 9110 5.5 does not"
H11_VERSION = "h11 accepts any HTTP/d.d version; we answer 505 to anything but 1.0 and 1.1"
H11_TARGET = "h11 accepts any visible-ASCII target; we require the form to fit the method (RFC 9112 3.2)"
H11_HOST = "h11 does not check the Host value; RFC 9112 3.2 requires 400 for an invalid one"
H11_TE_HTTP10 = "h11 accepts Transfer-Encoding in HTTP/1.0; RFC 9112 6.1 says the framing is faulty"
H11_CL_NUMERIC = "h11 compares duplicate Content-Length values as text; we compare the numbers"
HT_METHOD = "llhttp accepts only the methods it knows; any token is a method (RFC 9110 9.1)"
HT_NO_HOST = "llhttp does not require Host in HTTP/1.1 (RFC 9112 3.2 does)"
HT_HOST = "llhttp does not check the Host value; RFC 9112 3.2 requires 400 for an invalid one"
HT_CL_DUP = "llhttp refuses any repeated Content-Length; RFC 9110 8.6 allows identical ones, and we accept them"
HT_CL_LIST = "llhttp refuses a Content-Length list; RFC 9110 8.6 allows identical members, and we accept them"
HT_VERSION = "llhttp accepts HTTP/0.9 and HTTP/2.0 request lines; we answer 505"
HT_TARGET = "llhttp does not tie the target form to the method (RFC 9112 3.2)"
HT_TE_HTTP10 = "llhttp accepts Transfer-Encoding in HTTP/1.0; RFC 9112 6.1 says the framing is faulty"
HT_TE_CODING = "llhttp accepts any coding before a final chunked; we do not decode it, so 501"
HT_ABS_FORM = "llhttp accepts absolute-form only as scheme://...; RFC 9112 3.2.2 allows any absolute-URI"
HT_DOUBLE_SP = "llhttp accepts several spaces between request-line parts; RFC 9112 3 asks for one SP"
HT_LEADING = "llhttp skips any number of empty lines; we stop after 8"


@dataclass(frozen=True)
class Accept:
    """The parsed head: what `parse_head` returns, minus nothing."""

    method: bytes = b"GET"
    target: bytes = b"/"
    minor: int = 1
    flags: int = KA11
    content_length: int = -1
    fields: tuple[tuple[bytes, bytes], ...] = ((b"host", b"example.com"),)
    head_len: int | None = None  # None: the whole raw input


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: Accept | int
    explain: dict[str, str] = field(default_factory=dict)


HOST = b"Host: example.com\r\n"


def get(*lines: bytes, target: bytes = b"/", version: bytes = b"1.1", host: bool = True) -> bytes:
    """A GET head with the given field lines (each without its CRLF)."""
    head = b"GET " + target + b" HTTP/" + version + b"\r\n" + (HOST if host else b"")
    return head + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def fields(*pairs: tuple[bytes, bytes], host: bool = True) -> tuple[tuple[bytes, bytes], ...]:
    return (((b"host", b"example.com"),) if host else ()) + pairs


VALID = [
    Case("001-simple-get", get(), Accept()),
    Case("002-http10-no-host", b"GET / HTTP/1.0\r\n\r\n", Accept(minor=0, flags=0, fields=())),
    Case("003-http10-keep-alive", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
         Accept(minor=0, flags=KEEP_ALIVE, fields=((b"connection", b"Keep-Alive"),))),
    Case("004-http11-close", get(b"Connection: close"),
         Accept(flags=HTTP11, fields=fields((b"connection", b"close")))),
    Case("005-connection-list-close-wins", get(b"Connection: keep-alive, CLOSE"),
         Accept(flags=HTTP11, fields=fields((b"connection", b"keep-alive, CLOSE")))),
    Case("006-post-content-length", b"POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\n",
         Accept(method=b"POST", target=b"/form", content_length=11,
                fields=fields((b"content-length", b"11")))),
    Case("007-post-chunked", b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n",
         Accept(method=b"POST", flags=KA11 | CHUNKED,
                fields=fields((b"transfer-encoding", b"chunked")))),
    Case("008-chunked-any-case", get(b"Transfer-Encoding: ChUnKeD"),
         Accept(flags=KA11 | CHUNKED, fields=fields((b"transfer-encoding", b"ChUnKeD")))),
    Case("009-chunked-surrounding-ows", get(b"Transfer-Encoding: \t chunked  "),
         Accept(flags=KA11 | CHUNKED, fields=fields((b"transfer-encoding", b"chunked")))),
    Case("010-expect-continue", get(b"Content-Length: 3", b"Expect: 100-continue"),
         Accept(flags=KA11 | EXPECT_CONTINUE, content_length=3,
                fields=fields((b"content-length", b"3"), (b"expect", b"100-continue")))),
    Case("011-expect-continue-any-case", get(b"Expect: 100-Continue"),
         Accept(flags=KA11 | EXPECT_CONTINUE, fields=fields((b"expect", b"100-Continue")))),
    Case("012-expect-on-http10-ignored", b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
         Accept(minor=0, flags=0, fields=((b"expect", b"100-continue"),))),
    Case("013-expect-other-value", get(b"Expect: 200-ok"),
         Accept(fields=fields((b"expect", b"200-ok")))),
    Case("014-websocket-upgrade",
         get(b"Upgrade: websocket", b"Connection: keep-alive, Upgrade", b"Sec-WebSocket-Version: 13"),
         Accept(flags=KA11 | UPGRADE,
                fields=fields((b"upgrade", b"websocket"), (b"connection", b"keep-alive, Upgrade"),
                              (b"sec-websocket-version", b"13")))),
    Case("015-upgrade-without-connection-token", get(b"Upgrade: websocket"),
         Accept(fields=fields((b"upgrade", b"websocket")))),
    Case("016-connection-upgrade-without-upgrade", get(b"Connection: upgrade"),
         Accept(fields=fields((b"connection", b"upgrade")))),
    Case("017-upgrade-on-http10-ignored",
         b"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
         Accept(minor=0, flags=0, fields=((b"upgrade", b"websocket"), (b"connection", b"upgrade")))),
    Case("018-options-asterisk", b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
         Accept(method=b"OPTIONS", target=b"*")),
    Case("019-connect-authority", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
         Accept(method=b"CONNECT", target=b"example.com:443", fields=((b"host", b"example.com:443"),))),
    Case("020-absolute-form", get(target=b"http://example.com/a?b=c"),
         Accept(target=b"http://example.com/a?b=c")),
    Case("021-query-and-escapes", get(target=b"/a%20b/c;p?x=1&y=%2F#frag"),
         Accept(target=b"/a%20b/c;p?x=1&y=%2F#frag")),
    Case("022-duplicates-kept-in-order", get(b"Accept: a", b"X-A: 1", b"accept: b"),
         Accept(fields=fields((b"accept", b"a"), (b"x-a", b"1"), (b"accept", b"b")))),
    Case("023-empty-values", get(b"X-Empty:", b"X-Spaces:   \t "),
         Accept(fields=fields((b"x-empty", b""), (b"x-spaces", b"")))),
    Case("024-value-ows-stripped-inner-kept", get(b"X-A: \t a  b\tc \t"),
         Accept(fields=fields((b"x-a", b"a  b\tc")))),
    Case("025-value-obs-text", get(b"X-Name: caf\xc3\xa9 \xff"),
         Accept(fields=fields((b"x-name", b"caf\xc3\xa9 \xff")))),
    Case("026-name-all-tchar", get(b"!#$%&'*+-.^_`|~0aZ: v"),
         Accept(fields=fields((b"!#$%&'*+-.^_`|~0az", b"v")))),
    Case("027-name-case-lowered", get(b"X-MiXeD-CaSe: Keep Case"),
         Accept(fields=fields((b"x-mixed-case", b"Keep Case")))),
    Case("028-one-leading-crlf", b"\r\n" + get(), Accept(), explain={"h11": H11_NO_LEADING}),
    Case("029-eight-leading-crlf", b"\r\n" * 8 + get(), Accept(), explain={"h11": H11_NO_LEADING}),
    Case("030-identical-content-length-fields", get(b"Content-Length: 5", b"Content-Length: 5"),
         Accept(content_length=5, fields=fields((b"content-length", b"5"), (b"content-length", b"5"))),
         explain={"httptools": HT_CL_DUP}),
    Case("031-identical-content-length-list", get(b"Content-Length: 5 , 5"),
         Accept(content_length=5, fields=fields((b"content-length", b"5 , 5"))),
         explain={"httptools": HT_CL_LIST}),
    Case("032-content-length-numerically-equal", get(b"Content-Length: 5", b"Content-Length: 005"),
         Accept(content_length=5, fields=fields((b"content-length", b"5"), (b"content-length", b"005"))),
         explain={"h11": H11_CL_NUMERIC, "httptools": HT_CL_DUP}),
    Case("033-content-length-leading-zeros", get(b"Content-Length: 0010"),
         Accept(content_length=10, fields=fields((b"content-length", b"0010")))),
    Case("034-content-length-zero", get(b"Content-Length: 0"),
         Accept(content_length=0, fields=fields((b"content-length", b"0")))),
    Case("035-content-length-int64-max", get(b"Content-Length: 9223372036854775807"),
         Accept(content_length=2**63 - 1, fields=fields((b"content-length", b"9223372036854775807")))),
    Case("036-host-port-and-ipv6", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
         Accept(fields=((b"host", b"[::1]:8080"),))),
    Case("037-host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Accept(fields=((b"host", b""),))),
    Case("038-pipelined-next-request", get() + b"GET /2 HTTP/1.1\r\n",
         Accept(head_len=len(get()))),
    Case("039-body-after-head", get(b"Content-Length: 5") + b"hello",
         Accept(content_length=5, fields=fields((b"content-length", b"5")),
                head_len=len(get(b"Content-Length: 5")))),
    Case("040-lowercase-method", b"get / HTTP/1.1\r\nHost: example.com\r\n\r\n",
         Accept(method=b"get"), explain={"httptools": HT_METHOD}),
    Case("041-extension-method", b"FROB / HTTP/1.1\r\nHost: example.com\r\n\r\n",
         Accept(method=b"FROB"), explain={"httptools": HT_METHOD}),
    Case("042-known-extension-method", b"PURGE /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
         Accept(method=b"PURGE", target=b"/x")),
    Case("043-value-with-colons-and-quotes", get(b'X-A: "a:b", c=d; e'),
         Accept(fields=fields((b"x-a", b'"a:b", c=d; e')))),
    Case("044-host-after-other-fields", b"GET / HTTP/1.1\r\nAccept: */*\r\nhOsT: example.com\r\n\r\n",
         Accept(fields=((b"accept", b"*/*"), (b"host", b"example.com")))),
    Case("045-http10-close-and-keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
         Accept(minor=0, flags=0, fields=((b"connection", b"keep-alive"), (b"connection", b"close")))),
    Case("046-connection-unknown-tokens", get(b"Connection: TE, foo"),
         Accept(fields=fields((b"connection", b"TE, foo")))),
    Case("047-absolute-form-other-scheme", get(target=b"urn:isbn:0451450523"),
         Accept(target=b"urn:isbn:0451450523"), explain={"httptools": HT_ABS_FORM}),
    Case("048-long-target", get(target=b"/" + b"a" * 4000), Accept(target=b"/" + b"a" * 4000)),
    Case("049-host-sub-delims", b"GET / HTTP/1.1\r\nHost: a-b.c_d~e!$&'()*+,;=%41:80\r\n\r\n",
         Accept(fields=((b"host", b"a-b.c_d~e!$&'()*+,;=%41:80"),))),
    Case("051-chunked-trailing-htab", get(b"Transfer-Encoding: chunked\t"),
         Accept(flags=KA11 | CHUNKED, fields=fields((b"transfer-encoding", b"chunked"))),
         explain={"httptools": "llhttp does not take a trailing HTAB after chunked as OWS (it does a SP); RFC 9112 5 strips both"}),
    Case("050-delete-with-length", b"DELETE /r/1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
         Accept(method=b"DELETE", target=b"/r/1", content_length=0,
                fields=fields((b"content-length", b"0")))),
]

INVALID = [
    # line endings
    Case("100-bare-lf-everywhere", b"GET / HTTP/1.1\nHost: example.com\n\n", -400,
         explain={"h11": H11_BARE_LF}),
    Case("101-bare-lf-after-request-line", b"GET / HTTP/1.1\nHost: example.com\r\n\r\n", -400,
         explain={"h11": H11_BARE_LF}),
    Case("102-bare-lf-after-field", b"GET / HTTP/1.1\r\nHost: example.com\n\r\n", -400,
         explain={"h11": H11_BARE_LF}),
    Case("103-bare-lf-final-line", b"GET / HTTP/1.1\r\nHost: example.com\r\n\n", -400,
         explain={"h11": H11_BARE_LF}),
    Case("104-bare-cr-in-request-line", b"GET / HTTP/1.1\rHost: example.com\r\n\r\n", -400),
    Case("105-bare-cr-in-value", get(b"X-A: a\rb"), -400),
    Case("106-leading-bare-lf", b"\n" + get(), -400, explain={"httptools": "llhttp skips a bare LF before the request line; we require CRLF"}),
    Case("107-nine-leading-crlf", b"\r\n" * 9 + get(), -400, explain={"httptools": HT_LEADING}),
    Case("108-leading-cr-cr-lf", b"\r\r\n" + get(), -400,
         explain={"httptools": "llhttp skips stray CRs before the request line; we require CRLF"}),
    # obs-fold and stray whitespace
    Case("110-obs-fold-sp", get(b"X-A: a", b" b"), -400, explain={"h11": H11_OBS_FOLD}),
    Case("111-obs-fold-htab", get(b"X-A: a", b"\tb"), -400, explain={"h11": H11_OBS_FOLD}),
    Case("112-whitespace-before-first-field", b"GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", -400),
    Case("113-space-before-colon", get(b"X-A : a"), -400),
    Case("114-tab-before-colon", get(b"X-A\t: a"), -400),
    # request line
    Case("120-double-space-after-method", b"GET  / HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"httptools": HT_DOUBLE_SP}),
    Case("121-double-space-after-target", b"GET /  HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"httptools": HT_DOUBLE_SP}),
    Case("122-tab-separator", b"GET\t/ HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("123-trailing-space", b"GET / HTTP/1.1 \r\n" + HOST + b"\r\n", -400),
    Case("124-leading-space", b" GET / HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("125-lowercase-http", b"GET / http/1.1\r\n" + HOST + b"\r\n", -400),
    Case("126-two-digit-minor", b"GET / HTTP/1.10\r\n" + HOST + b"\r\n", -400),
    Case("127-no-minor", b"GET / HTTP/1\r\n" + HOST + b"\r\n", -400),
    Case("128-no-version", b"GET /\r\n" + HOST + b"\r\n", -400,
         explain={"httptools": "llhttp takes a request line without version as HTTP/0.9; we do not serve 0.9"}),
    Case("129-method-bad-char", b"GE(T / HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("130-target-control-char", b"GET /a\x01b HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("131-target-obs-text", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("132-target-del", b"GET /a\x7f HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("133-target-nul", b"GET /a\x00 HTTP/1.1\r\n" + HOST + b"\r\n", -400),
    Case("134-extra-token", b"GET / HTTP/1.1 x\r\n" + HOST + b"\r\n", -400),
    Case("135-tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\r\n\r\n", -400),
    # versions
    Case("140-http12", b"GET / HTTP/1.2\r\n" + HOST + b"\r\n", -505, explain={"h11": H11_VERSION}),
    Case("141-http20", b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", -505,
         explain={"h11": H11_VERSION, "httptools": HT_VERSION}),
    Case("142-http09-with-version", b"GET / HTTP/0.9\r\n" + HOST + b"\r\n", -505,
         explain={"h11": H11_VERSION, "httptools": HT_VERSION}),
    Case("143-http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -505,
         explain={"h11": H11_VERSION}),
    Case("144-http-version-3-0", b"GET / HTTP/3.0\r\n" + HOST + b"\r\n", -505, explain={"h11": H11_VERSION}),
    # target forms
    Case("150-target-no-slash", b"GET foo HTTP/1.1\r\n" + HOST + b"\r\n", -400, explain={"h11": H11_TARGET}),
    Case("151-asterisk-with-get", b"GET * HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"h11": H11_TARGET, "httptools": HT_TARGET}),
    Case("152-connect-origin-form", b"CONNECT / HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"h11": H11_TARGET, "httptools": HT_TARGET}),
    Case("153-connect-no-port", b"CONNECT example.com HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"h11": H11_TARGET, "httptools": HT_TARGET}),
    Case("154-connect-empty-port", b"CONNECT example.com: HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"h11": H11_TARGET, "httptools": HT_TARGET}),
    Case("155-scheme-starts-with-digit", b"GET 1http://x/ HTTP/1.1\r\n" + HOST + b"\r\n", -400,
         explain={"h11": H11_TARGET}),
    # field syntax
    Case("160-nul-in-value", get(b"X-A: a\x00b"), -400),
    Case("161-ctl-in-value", get(b"X-A: a\x01b"), -400, explain={"h11": H11_CTL}),
    Case("162-del-in-value", get(b"X-A: a\x7fb"), -400, explain={"h11": H11_CTL}),
    Case("163-escape-in-value", get(b"X-A: \x1b[31m"), -400, explain={"h11": H11_CTL}),
    Case("164-vertical-tab-in-value", get(b"X-A: a\x0bb"), -400),
    Case("165-empty-name", get(b": a"), -400),
    Case("166-name-bad-char", get(b"X(A): a"), -400),
    Case("167-name-obs-text", get(b"X-\xe9: a"), -400),
    Case("168-no-colon", get(b"X-A a"), -400),
    Case("169-nul-in-name", get(b"X\x00A: a"), -400),
    # Host
    Case("170-http11-no-host", b"GET / HTTP/1.1\r\n\r\n", -400, explain={"httptools": HT_NO_HOST}),
    Case("171-two-hosts", get(b"Host: example.com"), -400,
         explain={"httptools": "llhttp does not count Host fields (RFC 9112 3.2: more than one is a 400)"}),
    Case("172-two-hosts-http10", b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400,
         explain={"httptools": "llhttp does not count Host fields (RFC 9112 3.2: more than one is a 400)"}),
    Case("173-host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400,
         explain={"h11": H11_HOST, "httptools": HT_HOST}),
    Case("174-host-with-path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -400,
         explain={"h11": H11_HOST, "httptools": HT_HOST}),
    Case("175-host-with-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400,
         explain={"h11": H11_HOST, "httptools": HT_HOST}),
    # Content-Length
    Case("180-content-length-letters", get(b"Content-Length: abc"), -400),
    Case("181-content-length-plus", get(b"Content-Length: +5"), -400),
    Case("182-content-length-negative", get(b"Content-Length: -1"), -400),
    Case("183-content-length-empty", get(b"Content-Length:"), -400),
    Case("184-content-length-inner-space", get(b"Content-Length: 1 2"), -400),
    Case("185-content-length-differing-list", get(b"Content-Length: 5, 6"), -400),
    Case("186-content-length-differing-fields", get(b"Content-Length: 5", b"Content-Length: 6"), -400),
    Case("187-content-length-empty-member", get(b"Content-Length: 5,"), -400),
    Case("188-content-length-hex", get(b"Content-Length: 0x10"), -400),
    Case("189-content-length-overflow", get(b"Content-Length: 9223372036854775808"), -413,
         explain={"h11": "h11 takes Content-Length up to 20 digits; above INT64_MAX we cannot represent it (413)",
                  "httptools": "llhttp takes Content-Length up to UINT64_MAX; above INT64_MAX we cannot represent it (413)"}),
    Case("190-content-length-huge", get(b"Content-Length: 99999999999999999999999"), -413),
    # Transfer-Encoding
    Case("200-te-and-content-length", get(b"Transfer-Encoding: chunked", b"Content-Length: 3"), -400,
         explain={"h11": "h11 lets Transfer-Encoding override Content-Length; RFC 9112 6.1 lets a server do so, we refuse the smuggling vector"}),
    Case("201-content-length-and-te", get(b"Content-Length: 3", b"Transfer-Encoding: chunked"), -400,
         explain={"h11": "h11 lets Transfer-Encoding override Content-Length; RFC 9112 6.1 lets a server do so, we refuse the smuggling vector"}),
    Case("202-te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400,
         explain={"h11": H11_TE_HTTP10, "httptools": HT_TE_HTTP10}),
    Case("203-te-gzip-alone", get(b"Transfer-Encoding: gzip"), -400),
    Case("204-te-gzip-then-chunked", get(b"Transfer-Encoding: gzip, chunked"), -501,
         explain={"httptools": HT_TE_CODING}),
    Case("205-te-chunked-then-gzip", get(b"Transfer-Encoding: chunked, gzip"), -400),
    Case("206-te-unknown", get(b"Transfer-Encoding: frob"), -501),
    Case("207-te-unknown-then-chunked", get(b"Transfer-Encoding: frob, chunked"), -501,
         explain={"httptools": HT_TE_CODING}),
    Case("208-te-chunked-twice", get(b"Transfer-Encoding: chunked, chunked"), -400),
    Case("209-te-chunked-in-two-fields", get(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), -400),
    Case("210-te-parameters", get(b"Transfer-Encoding: chunked;foo=bar"), -400),
    Case("211-te-empty", get(b"Transfer-Encoding:"), -400),
    Case("212-te-identity", get(b"Transfer-Encoding: identity"), -501),
    Case("213-te-gzip-field-then-chunked-field", get(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"), -501,
         explain={"httptools": HT_TE_CODING}),
    Case("214-te-space-inside-coding", get(b"Transfer-Encoding: chun ked"), -400),
    Case("216-te-empty-list-members", get(b"Transfer-Encoding: , chunked ,"), -400),
    Case("215-te-vertical-tab", get(b"Transfer-Encoding: \x0bchunked"), -400),
]

INCOMPLETE_CASES = [
    Case("300-empty", b"", INCOMPLETE),
    Case("301-only-crlf", b"\r\n", INCOMPLETE, explain={"h11": H11_NO_LEADING}),
    Case("302-partial-method", b"GE", INCOMPLETE),
    Case("303-partial-version", b"GET / HTT", INCOMPLETE),
    Case("304-request-line-only", b"GET / HTTP/1.1\r\n", INCOMPLETE),
    Case("305-no-final-crlf", b"GET / HTTP/1.1\r\n" + HOST, INCOMPLETE),
    Case("306-final-cr-only", b"GET / HTTP/1.1\r\n" + HOST + b"\r", INCOMPLETE),
    Case("307-partial-field", b"GET / HTTP/1.1\r\nHost: exa", INCOMPLETE),
]

CASES = (
    [Case("valid/" + c.name, c.raw, c.expect, c.explain) for c in VALID]
    + [Case("invalid/" + c.name, c.raw, c.expect, c.explain) for c in INVALID]
    + [Case("incomplete/" + c.name, c.raw, c.expect, c.explain) for c in INCOMPLETE_CASES]
)
