/* The head record (docs/internals.md): method \0 target \0 peer-addr \0
 * peer-port \0 server-addr \0 server-port (\0 name \0 value)*. No Python. */
#ifndef SUBSERVE_RECORD_H
#define SUBSERVE_RECORD_H

#include <stddef.h>
#include <sys/socket.h>

#include "http_parse.h"

#define SS_ADDR_TEXT 128

/* "addr\0port" for an IPv4/IPv6 address, "\0" for others (UNIX peers). */
void ss_format_addr(const struct sockaddr *sa, char *out, size_t *out_len);

/* peer and server are "addr\0port" texts as ss_format_addr makes them. */
size_t ss_record_size(const ss_request *r, size_t peer_len, size_t server_len);
void ss_record_write(const ss_request *r, const char *peer, size_t peer_len,
                     const char *server, size_t server_len, char *out);

#endif
