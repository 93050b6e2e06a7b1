/* Strict HTTP/1.1 request-head parser (RFC 9112, RFC 9110); see http_parse.h.
 * No Python here.
 *
 * Strategy. One forward pass: each part of a line (method, target, field
 * name, field value) is scanned with a byte-class table up to the first byte
 * that cannot belong to it, and that byte must then be the delimiter the
 * grammar expects. A bad byte is therefore refused as soon as it arrives, and
 * any prefix of a head yields either 0 or the verdict of the whole head.
 *
 * Every line is scanned inside a window: its own cap (max_line or max_field)
 * plus the CRLF, clipped to what is left of max_head. Running out of bytes
 * inside the window means "need more"; filling the window without meeting
 * the CRLF means a limit is exceeded, which is reported at once, without
 * waiting for the rest of an oversized line.
 *
 * Once the head is complete, a second pass over the stored fields applies the
 * framing rules (Host, Content-Length, Transfer-Encoding, Connection, Expect,
 * Upgrade): a table maps each of those names to a small rule.
 *
 * Choices where the RFCs leave room (tests/parser/ pins each of them):
 * - bare LF and bare CR as line endings are refused (RFC 9112 2.2 allows
 *   either; a lenient recipient is what request smuggling feeds on);
 * - obs-fold is refused (RFC 9112 5.2 allows 400);
 * - up to LEADING_EMPTY_MAX empty lines before the request line are skipped;
 * - HTTP/x.y other than 1.0 and 1.1 gets 505, HTTP/1.2 included;
 * - the target must be origin-form, absolute-form, authority-form for CONNECT
 *   only, or "*" for OPTIONS only; visible ASCII only (no obs-text);
 * - Host must hold only characters of uri-host [ ":" port ];
 * - Content-Length: identical duplicates (fields or list members, compared
 *   by value) are accepted, differing ones get 400, a value above INT64_MAX
 *   gets 413;
 * - Transfer-Encoding: codings must be bare tokens (no parameters, no empty
 *   list members); an unregistered coding gets 501, a final coding other
 *   than chunked gets 400, a registered coding we do not decode (gzip,
 *   deflate, compress) before chunked gets 501; also 400 with
 *   Content-Length, with chunked twice, or in HTTP/1.0.
 */
#include "http_parse.h"

#include <string.h>

/* RFC 9112 2.2 asks to ignore "at least one" empty line; a few cover the
 * clients that send a stray CRLF after a body, more is not a client. */
#define LEADING_EMPTY_MAX 8

/* Byte classes, one bit each, combined in the table below. */
enum {
    C_TCHAR = 1,   /* token character (RFC 9110 5.6.2) */
    C_VCHAR = 2,   /* visible ASCII 0x21-0x7E: request-target */
    C_VALUE = 4,   /* field-value byte: VCHAR, obs-text, SP, HTAB */
    C_HOST = 8,    /* uri-host [":" port]: unreserved, sub-delims, "%:[]" */
    C_DIGIT = 16,
    C_SCHEME = 32, /* URI scheme: ALPHA, DIGIT, "+-." */
    C_OWS = 64,    /* SP, HTAB */
};

/* Generated from the definitions above; row n covers bytes 0xn0-0xnF. */
static const uint8_t cls[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0_ */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 1_ */
    0x44, 0x0f, 0x06, 0x07, 0x0f, 0x0f, 0x0f, 0x0f, 0x0e, 0x0e, 0x0f, 0x2f, 0x0e, 0x2f, 0x2f, 0x06, /* 2_ */
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x0e, 0x0e, 0x06, 0x0e, 0x06, 0x06, /* 3_ */
    0x06, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 4_ */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x0e, 0x06, 0x0e, 0x07, 0x0f, /* 5_ */
    0x07, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, /* 6_ */
    0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x06, 0x07, 0x06, 0x0f, 0x00, /* 7_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* 8_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* 9_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* A_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* B_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* C_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* D_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* E_ */
    0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, /* F_ */
};

/* Return convention of the step functions below: > 0 done (positions
 * advanced), 0 need more bytes, < 0 minus the HTTP status to answer. */

typedef struct {
    const unsigned char *buf;
    size_t len;
    size_t max_head;
} input;

/* The bytes one line may be scanned in. */
typedef struct {
    size_t start;
    size_t win;   /* bytes the line may take, CRLF included */
    size_t stop;  /* min(len, start + win): scanning never passes it */
    int limit;    /* status once the window is full: 414 or 431 */
} line;

static size_t span(const unsigned char *s, size_t i, size_t stop, unsigned cls_mask)
{
    while (i < stop && (cls[s[i]] & cls_mask))
        i++;
    return i;
}

/* Word-at-a-time scanning for the long parts (targets, values), in the
 * spirit of memchr: 8 bytes are skipped at once while none of them can stop
 * the scan; the byte loop above finds the exact stop. REP(b) repeats b in
 * every byte; the two tests are exact as truth values (Bit Twiddling Hacks,
 * "hasless"/"hasmore"), which is all that is needed to decide a skip. */
#define REP(b) (UINT64_C(0x0101010101010101) * (uint64_t)(b))

static uint64_t any_below(uint64_t w, unsigned n) /* n <= 128 */
{
    return (w - REP(n)) & ~w & REP(0x80);
}

static uint64_t any_above(uint64_t w, unsigned n) /* n < 128 */
{
    return ((w + REP(127 - n)) | w) & REP(0x80);
}

static uint64_t load8(const unsigned char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

/* span(C_VCHAR): 0x21-0x7E. */
static size_t span_target(const unsigned char *s, size_t i, size_t stop)
{
    while (stop - i >= 8 && !any_below(load8(s + i), 0x21) && !any_above(load8(s + i), 0x7E))
        i += 8;
    return span(s, i, stop, C_VCHAR);
}

/* span(C_VALUE): all but CTLs and DEL; HTAB, rare, takes the byte loop. */
static size_t span_value(const unsigned char *s, size_t i, size_t stop)
{
    while (stop - i >= 8 && !any_below(load8(s + i), 0x20) && !any_below(load8(s + i) ^ REP(0x7F), 1))
        i += 8;
    return span(s, i, stop, C_VALUE);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive equality with a lower-case literal. */
static int ieq(const unsigned char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (lower(s[i]) != lit[i])
            return 0;
    return i == n && lit[i] == '\0';
}

/* A line at start may hold cap bytes plus CRLF, within what max_head leaves;
 * when max_head is the tighter bound, overflowing it is a 431. */
static line open_line(const input *in, size_t start, size_t cap, int status)
{
    line ln = {start, 0, 0, status};
    size_t room = in->max_head > start ? in->max_head - start : 0;
    size_t want = cap > SIZE_MAX - 2 ? SIZE_MAX : cap + 2;
    ln.win = want;
    if (room < want) {
        ln.win = room;
        ln.limit = 431;
    }
    size_t avail = in->len - start;
    ln.stop = start + (avail < ln.win ? avail : ln.win);
    return ln;
}

/* Scanning reached ln->stop: more bytes are needed, unless the window is
 * already full, in which case the line cannot end within its limit. */
static int starved(const input *in, const line *ln)
{
    return in->len - ln->start >= ln->win ? -ln->limit : 0;
}

/* CRLF expected at i; *next gets the offset after it. */
static int end_of_line(const input *in, const line *ln, size_t i, size_t *next)
{
    if (i == ln->stop)
        return starved(in, ln);
    if (in->buf[i] != '\r')
        return -400;
    if (i + 1 == ln->stop)
        return starved(in, ln);
    if (in->buf[i + 1] != '\n')
        return -400;
    *next = i + 2;
    return 1;
}

static int skip_empty_lines(const input *in, size_t *pos)
{
    for (int n = 0;; n++) {
        if (*pos == in->len)
            return 0;
        unsigned char c = in->buf[*pos];
        if (c != '\r' && c != '\n')
            return 1;
        if (n == LEADING_EMPTY_MAX)
            return -400;
        line ln = open_line(in, *pos, 0, 431);
        int r = end_of_line(in, &ln, *pos, pos);
        if (r <= 0)
            return r;
    }
}

/* "HTTP/" DIGIT "." DIGIT, a byte at a time so a valid prefix waits. */
static int scan_version(const input *in, const line *ln, size_t i, int *major, int *minor)
{
    static const char shape[] = "HTTP/9.9"; /* '9' stands for any digit */
    for (size_t k = 0; k < sizeof shape - 1; k++) {
        if (i + k == ln->stop)
            return starved(in, ln);
        unsigned char c = in->buf[i + k];
        int ok = shape[k] == '9' ? (cls[c] & C_DIGIT) != 0 : c == (unsigned char)shape[k];
        if (!ok)
            return -400;
    }
    *major = in->buf[i + 5] - '0';
    *minor = in->buf[i + 7] - '0';
    return 1;
}

static int method_is(const ss_request *r, const char *m)
{
    size_t n = strlen(m);
    return r->method_len == n && memcmp(r->method, m, n) == 0;
}

/* authority-form (RFC 9112 3.2.3): uri-host ":" port, both non-empty. */
static int is_authority(const unsigned char *t, size_t n)
{
    if (span(t, 0, n, C_HOST) != n)
        return 0;
    size_t colon = n;
    while (colon > 0 && t[colon - 1] != ':')
        colon--;
    return colon > 1 && colon < n && span(t, colon, n, C_DIGIT) == n;
}

static int is_alpha(unsigned char c)
{
    return lower(c) >= 'a' && lower(c) <= 'z';
}

/* absolute-form starts with a scheme: ALPHA *( ALPHA / DIGIT / "+-." ) ":" */
static int has_scheme(const unsigned char *t, size_t n)
{
    size_t i = span(t, 0, n, C_SCHEME);
    return i > 0 && i < n && t[i] == ':' && is_alpha(t[0]);
}

/* Which of the four request-target forms (RFC 9112 3.2) fits which method. */
static int check_target(const ss_request *r)
{
    const unsigned char *t = (const unsigned char *)r->target;
    size_t n = r->target_len;
    if (method_is(r, "CONNECT"))
        return is_authority(t, n) ? 1 : -400;
    if (n == 1 && t[0] == '*')
        return method_is(r, "OPTIONS") ? 1 : -400;
    if (t[0] == '/' || has_scheme(t, n))
        return 1;
    return -400;
}

/* method SP request-target SP HTTP-version CRLF, single spaces only. */
static int parse_request_line(const input *in, size_t *pos, size_t max_line, ss_request *out)
{
    const unsigned char *b = in->buf;
    line ln = open_line(in, *pos, max_line, 414);
    size_t i = span(b, ln.start, ln.stop, C_TCHAR);
    if (i == ln.stop)
        return starved(in, &ln);
    if (i == ln.start || b[i] != ' ')
        return -400;
    out->method = (const char *)b + ln.start;
    out->method_len = i - ln.start;

    size_t t = i + 1;
    i = span_target(b, t, ln.stop);
    if (i == ln.stop)
        return starved(in, &ln);
    if (i == t || b[i] != ' ')
        return -400;
    out->target = (const char *)b + t;
    out->target_len = i - t;

    int major = 0, minor = 0;
    int r = scan_version(in, &ln, i + 1, &major, &minor);
    if (r <= 0)
        return r;
    r = end_of_line(in, &ln, i + 9, pos);
    if (r <= 0)
        return r;
    if (major != 1 || minor > 1)
        return -505;
    out->minor = minor;
    return check_target(out);
}

/* field-name ":" OWS field-value OWS CRLF; the value is stored stripped. */
static int parse_field(const input *in, size_t *pos, size_t max_field, ss_field *f)
{
    const unsigned char *b = in->buf;
    line ln = open_line(in, *pos, max_field, 431);
    size_t i = span(b, ln.start, ln.stop, C_TCHAR);
    if (i == ln.stop)
        return starved(in, &ln);
    if (i == ln.start || b[i] != ':')
        return -400; /* includes whitespace before the colon */
    size_t v = span(b, i + 1, ln.stop, C_OWS);
    size_t e = span_value(b, v, ln.stop);
    int r = end_of_line(in, &ln, e, pos);
    if (r <= 0)
        return r;
    size_t ve = e;
    while (ve > v && (cls[b[ve - 1]] & C_OWS))
        ve--;
    f->name = (const char *)b + ln.start;
    f->name_len = i - ln.start;
    f->value = (const char *)b + v;
    f->value_len = ve - v;
    return 1;
}

/* Field lines up to and including the empty line that ends the head. */
static int parse_fields(const input *in, size_t *pos, const ss_limits *lim, ss_request *out)
{
    size_t max_fields = lim->max_fields < SS_MAX_FIELDS_CAP ? lim->max_fields : SS_MAX_FIELDS_CAP;
    for (;;) {
        if (*pos == in->len)
            return 0;
        unsigned char c = in->buf[*pos];
        if (c == '\r') {
            line ln = open_line(in, *pos, 0, 431);
            return end_of_line(in, &ln, *pos, pos);
        }
        if (!(cls[c] & C_TCHAR))
            return -400; /* obs-fold (SP/HTAB), bare LF, junk */
        if (out->nfields == max_fields)
            return -431;
        int r = parse_field(in, pos, lim->max_field, &out->fields[out->nfields]);
        if (r <= 0)
            return r;
        out->nfields++;
    }
}

/* ---- framing: the second pass over the fields ---- */

enum { CONN_CLOSE = 1, CONN_KEEP_ALIVE = 2, CONN_UPGRADE = 4 };

typedef struct {
    int hosts;
    int64_t content_length; /* -1 until one is seen */
    int te_fields;
    int chunked;            /* "chunked" codings seen */
    int chunked_last;       /* the last coding so far is chunked */
    int te_unknown;         /* an unregistered coding */
    int te_other;           /* a registered coding we do not decode */
    unsigned conn;          /* CONN_* tokens of Connection */
    int upgrade;            /* a non-empty Upgrade field */
    int expect_continue;
} framing;

typedef int (*element_fn)(framing *fr, const unsigned char *s, size_t n);

/* Calls fn on each comma-separated member of a list value, OWS trimmed.
 * RFC 9110 5.6.1 has recipients skip empty members; the framing fields
 * (Content-Length, Transfer-Encoding) ask for them to be passed on and refuse
 * them: a framing value that parsers may read differently is a smuggling
 * vector, and h11 and llhttp refuse them too. */
static int each_member(framing *fr, const unsigned char *v, size_t n, int keep_empty, element_fn fn)
{
    size_t i = 0;
    while (i <= n) {
        const unsigned char *comma = memchr(v + i, ',', n - i);
        size_t j = comma ? (size_t)(comma - v) : n;
        size_t a = span(v, i, j, C_OWS), z = j;
        while (z > a && (cls[v[z - 1]] & C_OWS))
            z--;
        if (z > a || keep_empty) {
            int r = fn(fr, v + a, z - a);
            if (r < 0)
                return r;
        }
        i = j + 1;
    }
    return 0;
}

/* 1*DIGIT; list members and repeated fields must agree (RFC 9110 8.6). */
static int length_member(framing *fr, const unsigned char *s, size_t n)
{
    if (n == 0 || span(s, 0, n, C_DIGIT) != n)
        return -400;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -413;
        v = v * 10 + d;
    }
    if (fr->content_length >= 0 && fr->content_length != v)
        return -400;
    fr->content_length = v;
    return 0;
}

/* Registered codings (RFC 9110 18.7) other than chunked: we know them but do
 * not decode them, so a request using them is answered 501. */
static int is_other_coding(const unsigned char *s, size_t n)
{
    static const char *const known[] = {"gzip", "x-gzip", "deflate", "compress", "x-compress"};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (ieq(s, n, known[k]))
            return 1;
    return 0;
}

static int coding_member(framing *fr, const unsigned char *s, size_t n)
{
    if (n == 0 || span(s, 0, n, C_TCHAR) != n)
        return -400; /* empty member, parameters or junk */
    fr->chunked_last = ieq(s, n, "chunked");
    if (fr->chunked_last) {
        if (fr->chunked++)
            return -400; /* RFC 9112 6.1: MUST NOT apply chunked twice */
    } else if (is_other_coding(s, n)) {
        fr->te_other = 1;
    } else {
        fr->te_unknown = 1;
    }
    return 0;
}

static int connection_member(framing *fr, const unsigned char *s, size_t n)
{
    if (ieq(s, n, "close"))
        fr->conn |= CONN_CLOSE;
    else if (ieq(s, n, "keep-alive"))
        fr->conn |= CONN_KEEP_ALIVE;
    else if (ieq(s, n, "upgrade"))
        fr->conn |= CONN_UPGRADE;
    return 0;
}

static int on_host(framing *fr, const unsigned char *v, size_t n)
{
    if (++fr->hosts > 1)
        return -400; /* RFC 9112 3.2: more than one Host */
    return span(v, 0, n, C_HOST) == n ? 0 : -400;
}

static int on_content_length(framing *fr, const unsigned char *v, size_t n)
{
    return each_member(fr, v, n, 1, length_member);
}

static int on_transfer_encoding(framing *fr, const unsigned char *v, size_t n)
{
    fr->te_fields++;
    return each_member(fr, v, n, 1, coding_member);
}

static int on_connection(framing *fr, const unsigned char *v, size_t n)
{
    return each_member(fr, v, n, 0, connection_member);
}

static int on_expect(framing *fr, const unsigned char *v, size_t n)
{
    if (ieq(v, n, "100-continue"))
        fr->expect_continue = 1;
    return 0;
}

static int on_upgrade(framing *fr, const unsigned char *v, size_t n)
{
    (void)v; /* only its presence matters; the worker reads the protocol */
    if (n > 0)
        fr->upgrade = 1;
    return 0;
}

static const struct {
    const char *name; /* lower case */
    size_t len;
    element_fn rule;
} field_rules[] = {
    {"host", 4, on_host},
    {"content-length", 14, on_content_length},
    {"transfer-encoding", 17, on_transfer_encoding},
    {"connection", 10, on_connection},
    {"expect", 6, on_expect},
    {"upgrade", 7, on_upgrade},
};

static int apply_rule(framing *fr, const ss_field *f)
{
    const unsigned char *name = (const unsigned char *)f->name;
    for (size_t k = 0; k < sizeof field_rules / sizeof field_rules[0]; k++)
        if (f->name_len == field_rules[k].len && ieq(name, f->name_len, field_rules[k].name))
            return field_rules[k].rule(fr, (const unsigned char *)f->value, f->value_len);
    return 0;
}

/* RFC 9112 6.1 and 6.3: how the body is framed, or why it cannot be. */
static int check_transfer_encoding(const framing *fr, int minor)
{
    if (fr->content_length >= 0)
        return -400; /* both framings: the classic smuggling vector */
    if (minor == 0)
        return -400;
    if (fr->te_unknown)
        return -501;
    if (!fr->chunked_last)
        return -400;
    if (fr->te_other)
        return -501;
    return 1;
}

static unsigned flags_of(const framing *fr, int minor)
{
    unsigned flags = 0;
    if (minor == 1) {
        flags |= SS_F_HTTP11;
        if (!(fr->conn & CONN_CLOSE))
            flags |= SS_F_KEEP_ALIVE;
        if (fr->expect_continue)
            flags |= SS_F_EXPECT_CONTINUE;
        /* RFC 9110 7.8: Upgrade is ignored in an HTTP/1.0 request. */
        if ((fr->conn & CONN_UPGRADE) && fr->upgrade)
            flags |= SS_F_UPGRADE;
    } else if ((fr->conn & CONN_KEEP_ALIVE) && !(fr->conn & CONN_CLOSE)) {
        flags |= SS_F_KEEP_ALIVE;
    }
    if (fr->te_fields)
        flags |= SS_F_CHUNKED;
    return flags;
}

static int apply_framing(ss_request *out)
{
    framing fr = {0};
    fr.content_length = -1;
    for (size_t k = 0; k < out->nfields; k++) {
        int r = apply_rule(&fr, &out->fields[k]);
        if (r < 0)
            return r;
    }
    if (out->minor == 1 && fr.hosts == 0)
        return -400; /* RFC 9112 3.2 */
    if (fr.te_fields) {
        int r = check_transfer_encoding(&fr, out->minor);
        if (r < 0)
            return r;
    }
    out->flags = flags_of(&fr, out->minor);
    out->content_length = fr.content_length;
    return 1;
}

int64_t ss_parse_request(const char *buf, size_t len, const ss_limits *limits, ss_request *out)
{
    input in = {(const unsigned char *)buf, len, limits->max_head};
    size_t pos = 0;
    out->method = out->target = NULL;
    out->method_len = out->target_len = 0;
    out->minor = 0;
    out->flags = 0;
    out->content_length = -1;
    out->nfields = 0;

    int r = skip_empty_lines(&in, &pos);
    if (r > 0)
        r = parse_request_line(&in, &pos, limits->max_line, out);
    if (r > 0)
        r = parse_fields(&in, &pos, limits, out);
    if (r > 0)
        r = apply_framing(out);
    return r > 0 ? (int64_t)pos : r;
}

const char *ss_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return ""; /* RFC 9112 4: the reason phrase may be empty */
    }
}
