/* The interpreter pool: one OS thread per worker, each creating its own
 * OWN_GIL subinterpreter, running a bootstrap program in it (set sys.path,
 * import the app, serve), and ending the interpreter on the same thread; or,
 * for the thread worker kind, running the program in the main interpreter.
 *
 * No Python here: the bookkeeping is process-wide and plain C (interp.c
 * does the Python); main and the workers call into it. A pool is a counted
 * object (object.h) in a process-wide registry: every function taking a
 * pool needs a reference held by the caller, and each running worker
 * thread holds one of its own. */
#ifndef SUBSERVE_POOL_H
#define SUBSERVE_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "interp.h"
#include "object.h"

enum {
    SS_WORKER_STARTING = 0,
    SS_WORKER_READY = 1,    /* the app is loaded; serving */
    SS_WORKER_FAILED = 2,   /* could not load the app; message says why */
    SS_WORKER_EXITED = 3,   /* interpreter ended (after READY or FAILED) */
};

typedef struct {
    int state;
    int loaded;     /* reached READY at some point */
    char *message;  /* malloc'd UTF-8, or NULL */
} ss_worker_status;

typedef struct ss_pool ss_pool;

/* Start n threads, each running program (UTF-8 Python source) where says
 * (interp.h), with __pool_id__ and __worker_index__ set. The pool is
 * registered first (the programs bind it by id); *out is the caller's
 * reference. */
int ss_pool_start(const char *program, size_t length, int n, ss_interp_where where,
                  ss_pool **out);
/* Look up an open pool and take a reference; NULL when there is none. */
ss_pool *ss_pool_acquire(int64_t id);
/* Drop a reference; the memory goes with the last one. */
void ss_pool_release(ss_pool *p);
static inline int64_t ss_pool_id(const ss_pool *p) { return ((const ss_object *)p)->id; }
int ss_pool_size(const ss_pool *p);

/* Every call below fails with SS_ERR_CLOSED once the pool is destroyed. */
/* From inside worker `index`: the app is loaded (ok) or failed with message. */
int ss_pool_report(ss_pool *p, int index, int ok, const char *message, size_t len);
/* Wait until every worker left STARTING, or one FAILED/EXITED, or timeout;
 * copies states into out[n] (messages strdup'd: caller frees). */
int ss_pool_wait(ss_pool *p, int64_t timeout_ms, ss_worker_status *out, int n);
/* Wait up to timeout for every thread to finish, join them; returns the
 * number still running (>= 0) or an error. */
int64_t ss_pool_join(ss_pool *p, int64_t timeout_ms);
/* Close the pool and drop it from the registry; SS_ERR_RUNNING (with
 * *running set) while some thread is not joined yet. */
int ss_pool_destroy(ss_pool *p, int *running);

/* Create a thread with every signal blocked, so signals reach the main
 * thread (where Python's handlers run) and never interrupt our syscalls. */
int ss_start_thread(void *(*fn)(void *), void *arg, void *thread_out);

#endif
