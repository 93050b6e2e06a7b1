/* The Python side of a pool worker: one OWN_GIL subinterpreter, created,
 * used and ended on the calling thread; or, for the thread worker kind, a
 * thread state of the calling thread's own in the main interpreter. The
 * header has no Python in it, so pool.c stays plain C; interp.c is the file
 * that embeds. */
#ifndef SUBSERVE_INTERP_H
#define SUBSERVE_INTERP_H

#include <stddef.h>
#include <stdint.h>

/* Told why a worker's interpreter could not be created or why its program
 * raised (the formatted traceback), while that interpreter still exists:
 * its other threads may be waiting for main to react to the failure. */
typedef void (*ss_interp_error_fn)(void *arg, const char *message, size_t len);

/* Where a pool's workers run their program. */
typedef enum {
    SS_IN_OWN_INTERPRETER = 0,  /* a new OWN_GIL subinterpreter each */
    SS_IN_MAIN_INTERPRETER = 1, /* the main interpreter, sharing its GIL and modules */
} ss_interp_where;

/* Run program (UTF-8 source) with __pool_id__ and __worker_index__ set:
 * in its own interpreter's __main__ (created here, ended here with
 * Py_EndInterpreter), or in a fresh namespace of the main interpreter on a
 * thread state made for this thread. Returns once the program ended and the
 * interpreter or thread state is gone. */
void ss_interp_run(ss_interp_where where, const char *program, int64_t pool_id, int index,
                   ss_interp_error_fn on_error, void *arg);

#endif
