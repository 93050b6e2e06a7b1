/* Strict HTTP/1.1 request-head parser (RFC 9112), without I/O or allocation.
 *
 * Runs on the engine's C I/O thread and in worker interpreters (pipelined
 * requests); it touches no Python object, so it needs no GIL.
 */
#ifndef SUBSERVE_HTTP_PARSE_H
#define SUBSERVE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SS_MAX_FIELDS_CAP 256

/* Default request-head limits (gunicorn's), exported as _engine.DEFAULT_*:
 * the one place they are written. */
#define SS_DEFAULT_MAX_LINE 8190
#define SS_DEFAULT_MAX_HEAD 65536
#define SS_DEFAULT_MAX_FIELDS 100
#define SS_DEFAULT_MAX_FIELD 8190

/* Framing flags, shared with the queue item (docs/internals.md). */
enum {
    SS_F_KEEP_ALIVE = 1,
    SS_F_CHUNKED = 2,
    SS_F_EXPECT_CONTINUE = 4,
    SS_F_UPGRADE = 8,
    SS_F_HTTP11 = 16,
};

typedef struct {
    size_t max_line;    /* request-line length; longer -> 414 */
    size_t max_head;    /* whole head incl. final CRLF; larger -> 431 */
    size_t max_fields;  /* number of fields (<= SS_MAX_FIELDS_CAP); more -> 431 */
    size_t max_field;   /* one field line; longer -> 431 */
} ss_limits;

typedef struct {
    const char *name;   /* points into the buffer, case as received */
    size_t name_len;
    const char *value;  /* surrounding OWS stripped */
    size_t value_len;
} ss_field;

typedef struct {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor;              /* 0 or 1 */
    unsigned flags;         /* SS_F_* */
    int64_t content_length; /* -1 when absent or chunked */
    size_t nfields;
    ss_field fields[SS_MAX_FIELDS_CAP];
} ss_request;

/* Parse one request head at the start of buf.
 * Returns the head length (> 0, up to and including the empty line) when
 * complete, 0 when more bytes are needed (and no limit is exceeded yet), or
 * a negative HTTP status for a head that must be refused:
 * -400 bad syntax or smuggling vector, -413 Content-Length too large to
 * represent, -414 request line too long, -431 fields too large/many,
 * -501 unsupported Transfer-Encoding, -505 HTTP version other than 1.0/1.1.
 * Leading empty lines before the request line (RFC 9112 2.2) are skipped and
 * counted in the returned length. */
int64_t ss_parse_request(const char *buf, size_t len, const ss_limits *limits, ss_request *out);

/* Short reason phrase for a status the parser or engine may answer with. */
const char *ss_reason(int status);

#endif
