/* The head record (docs/internals.md) built from a parsed request: the
 * engine's one output format, split by workers with one bytes.split.
 * No Python here: runs on the engine thread and on workers' threads with
 * their GIL released. */
#include "record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void ss_format_addr(const struct sockaddr *sa, char *out, size_t *out_len)
{
    char host[INET6_ADDRSTRLEN] = "";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    } else {
        out[0] = out[1] = '\0';   /* UNIX peers have no address: "\0" */
        *out_len = 1;
        return;
    }
    int n = snprintf(out, SS_ADDR_TEXT, "%s%c%u", host, '\0', port);
    *out_len = n > 0 ? (size_t)n : 1;
}

size_t ss_record_size(const ss_request *r, size_t peer_len, size_t server_len)
{
    size_t n = r->method_len + 1 + r->target_len + 1 + peer_len + 1 + server_len;
    for (size_t i = 0; i < r->nfields; i++)
        n += 1 + r->fields[i].name_len + 1 + r->fields[i].value_len;
    return n;
}

static char *put_part(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    p[n] = '\0';
    return p + n + 1;
}

void ss_record_write(const ss_request *r, const char *peer, size_t peer_len,
                     const char *server, size_t server_len, char *p)
{
    p = put_part(p, r->method, r->method_len);
    p = put_part(p, r->target, r->target_len);
    p = put_part(p, peer, peer_len);
    memcpy(p, server, server_len);
    p += server_len;
    for (size_t i = 0; i < r->nfields; i++) {
        *p++ = '\0';
        /* Names go lower-cased: ASGI wants them so, WSGI upper-cases anyway. */
        for (size_t k = 0; k < r->fields[i].name_len; k++) {
            char ch = r->fields[i].name[k];
            *p++ = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        *p++ = '\0';
        memcpy(p, r->fields[i].value, r->fields[i].value_len);
        p += r->fields[i].value_len;
    }
}
