/* The I/O engine: one C thread with no Python in it. It accepts connections,
 * reads and parses request heads, answers bad ones itself, puts good ones on
 * the request queue, and parks idle keep-alive connections in epoll until
 * their next request or their deadline.
 *
 * Workers (in any interpreter) hand connections back with one of three verbs:
 * ss_engine_close_connection, ss_engine_park, ss_engine_next_request.
 *
 * An engine is a counted object (object.h) in a process-wide registry; it
 * holds a reference on its queue. Every function taking an engine needs a
 * reference held by the caller. */
#ifndef SUBSERVE_ENGINE_H
#define SUBSERVE_ENGINE_H

#include <stdint.h>

#include "http_parse.h"
#include "object.h"
#include "queue.h"

/* Default timeouts in seconds, exported as _engine.DEFAULT_*. */
#define SS_DEFAULT_KEEPALIVE 5.0
/* Draining, how long a connection the engine owns may still deliver a
 * request (a kept one whose client was sending its next as the drain began). */
#define SS_DRAIN_LINGER_MS 250
#define SS_DEFAULT_HEADER_TIMEOUT 10.0
#define SS_DEFAULT_CLIENT_TIMEOUT 60.0

/* Listening sockets one engine serves. */
#define SS_MAX_LISTENERS 32

typedef struct {
    int64_t queue_id;
    int64_t keepalive_ms;       /* idle time between requests */
    int64_t header_timeout_ms;  /* time for a whole head to arrive */
    int64_t client_timeout_ms;  /* SO_RCVTIMEO/SO_SNDTIMEO for workers' blocking I/O */
    int64_t max_body;           /* a larger Content-Length is answered 413 (0: no limit) */
    ss_limits limits;
} ss_engine_config;

typedef struct {
    uint64_t accepted;
    uint64_t requests;
    uint64_t rejected;  /* heads answered with an error status */
    int64_t busy;       /* connections currently owned by workers */
    int64_t open;       /* connections currently open */
    /* Running out of fds (EMFILE, ENFILE) or kernel memory (ENOBUFS,
     * ENOMEM) in accept4: the engine closes its oldest idle connection to
     * make room, or, with none, stops watching the listeners until a
     * connection closes or a short back-off ends. */
    uint64_t fd_limit_episodes;  /* runs of such errors (a 10 s lull ends one) */
    uint64_t fd_limit_closed;    /* idle connections closed to make room */
    int fd_limit_errno;          /* the last such error, 0: none yet */
    int accept_paused;           /* 1 while the listeners wait for a free fd */
} ss_engine_stats;

typedef struct ss_engine ss_engine;

/* The engine takes over the listening fds on success only. It is
 * registered; *out is the caller's reference. SS_ERR_NOT_FOUND: no open
 * queue cfg->queue_id. */
int ss_engine_create(const int *listen_fds, int nlisten, const ss_engine_config *cfg,
                     ss_engine **out);
/* Look up an open engine and take a reference; NULL when there is none. */
ss_engine *ss_engine_acquire(int64_t id);
/* Drop a reference; the last one closes what is left and frees. */
void ss_engine_release(ss_engine *e);
static inline int64_t ss_engine_id(const ss_engine *e) { return ((const ss_object *)e)->id; }

/* Every call below fails with SS_ERR_CLOSED once the engine is destroyed. */
int ss_engine_start(ss_engine *e);
/* Begin a graceful stop: close the listeners and idle connections. */
int ss_engine_drain(ss_engine *e);
/* Stop accepting while busy connections are owned by workers (0: always
 * accept): for engines of several processes on one listening socket. */
int ss_engine_limit_accepting(ss_engine *e, int64_t busy);
/* Wait until no worker owns a connection; returns how many still do. */
int64_t ss_engine_wait_idle(ss_engine *e, int64_t timeout_ms);
/* Stop and join the thread, close the listeners and the connections the
 * engine owns, drop it from the registry. Connections workers own are
 * closed as they are handed back, or with the last reference. */
int ss_engine_destroy(ss_engine *e);

/* The verbs a worker hands a connection back with (docs/internals.md).
 * SS_ERR_BAD_FD: fd is not a connection a worker owns. On a closed engine
 * the connection is closed and the call fails with SS_ERR_CLOSED. */
int ss_engine_close_connection(ss_engine *e, int fd);
/* An idle keep-alive connection waits in the engine for its next request. */
int ss_engine_park(ss_engine *e, int fd);
/* data was read after a response on a kept connection: a complete head
 * sets *next to its item, for the caller to serve at once; a partial one
 * is taken over by the engine, a bad one answered and closed (*next NULL
 * in both). Empty data: as ss_engine_park. */
int ss_engine_next_request(ss_engine *e, int fd, const char *data, size_t len, ss_item **next);

/* 1 once a graceful stop began, else 0. */
int ss_engine_draining(ss_engine *e);
/* An eventfd that becomes readable (and stays so) when draining begins; the
 * engine owns it, callers only watch it. */
int ss_engine_drain_fd(ss_engine *e);
int ss_engine_get_stats(ss_engine *e, ss_engine_stats *out);

#endif
