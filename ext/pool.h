/* The interpreter pool: one OS thread per worker, each creating its own
 * OWN_GIL subinterpreter, running a bootstrap program in it (set sys.path,
 * import the app, serve), and ending the interpreter on the same thread.
 *
 * The pool's bookkeeping is process-wide and plain C; the Python calls into
 * it (report, wait) come from main and from the workers. */
#ifndef SUBSERVE_POOL_H
#define SUBSERVE_POOL_H

#include <stddef.h>
#include <stdint.h>

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

/* Start n threads, each running program (UTF-8 Python source) in a new
 * interpreter whose __main__ has __pool_id__ and __worker_index__ set. */
int ss_pool_start(const char *program, size_t length, int n, int64_t *id_out);
/* From inside worker `index`: the app is loaded (ok) or failed with message. */
int ss_pool_report(int64_t id, int index, int ok, const char *message, size_t len);
/* Wait until every worker left STARTING, or one FAILED/EXITED, or timeout;
 * copies states into out[n] (messages strdup'd: caller frees). */
int ss_pool_wait(int64_t id, int64_t timeout_ms, ss_worker_status *out, int n);
/* Wait up to timeout for every thread to finish, join them; returns the
 * number still running (>= 0) or an error. */
int64_t ss_pool_join(int64_t id, int64_t timeout_ms);
/* Free a pool whose threads have all been joined. */
int ss_pool_destroy(int64_t id);
int ss_pool_size(int64_t id);

/* Create a thread with every signal blocked, so signals reach the main
 * thread (where Python's handlers run) and never interrupt our syscalls. */
int ss_start_thread(void *(*fn)(void *), void *arg, void *thread_out);

#endif
