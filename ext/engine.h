/* The I/O engine: one C thread with no Python in it. It accepts connections,
 * reads and parses request heads, answers bad ones itself, puts good ones on
 * the request queue, and parks idle keep-alive connections in epoll until
 * their next request or their deadline.
 *
 * Workers (in any interpreter) hand connections back with ss_engine_release. */
#ifndef SUBSERVE_ENGINE_H
#define SUBSERVE_ENGINE_H

#include <stdint.h>

#include "http_parse.h"
#include "queue.h"

/* Default timeouts in seconds, exported as _engine.DEFAULT_*. */
#define SS_DEFAULT_KEEPALIVE 5.0
#define SS_DEFAULT_HEADER_TIMEOUT 10.0
#define SS_DEFAULT_CLIENT_TIMEOUT 60.0

/* Listening sockets one engine serves. */
#define SS_MAX_LISTENERS 32

typedef struct {
    int64_t queue_id;
    int64_t keepalive_ms;       /* idle time between requests */
    int64_t header_timeout_ms;  /* time for a whole head to arrive */
    int64_t client_timeout_ms;  /* SO_RCVTIMEO/SO_SNDTIMEO for workers' blocking I/O */
    ss_limits limits;
} ss_engine_config;

typedef struct {
    uint64_t accepted;
    uint64_t requests;
    uint64_t rejected;  /* heads answered with an error status */
    int64_t busy;       /* connections currently owned by workers */
    int64_t open;       /* connections currently open */
} ss_engine_stats;

int ss_engine_create(const int *listen_fds, int nlisten, const ss_engine_config *cfg, int64_t *id_out);
int ss_engine_start(int64_t id);
/* Begin a graceful stop: close the listeners and idle connections. */
int ss_engine_drain(int64_t id);
/* Wait until no worker owns a connection; returns how many still do. */
int64_t ss_engine_wait_idle(int64_t id, int64_t timeout_ms);
/* Stop the thread, close every connection, free the engine. */
int ss_engine_destroy(int64_t id);
/* A worker is done with fd. See docs/internals.md for the contract. On
 * success *next is NULL or a pipelined request to serve right away. */
int ss_engine_release(int64_t id, int fd, int keep_alive,
                      const char *leftover, size_t len, ss_item **next);
int ss_engine_draining(int64_t id);
/* An eventfd that becomes readable (and stays so) when draining begins; the
 * engine owns it, callers only watch it. */
int ss_engine_drain_fd(int64_t id);
int ss_engine_get_stats(int64_t id, ss_engine_stats *out);

#endif
