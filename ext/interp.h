/* The Python side of a pool worker: one OWN_GIL subinterpreter, created,
 * used and ended on the calling thread. The header has no Python in it, so
 * pool.c stays plain C; interp.c is the file that embeds. */
#ifndef SUBSERVE_INTERP_H
#define SUBSERVE_INTERP_H

#include <stddef.h>
#include <stdint.h>

/* Told why a worker's interpreter could not be created or why its program
 * raised (the formatted traceback), while that interpreter still exists:
 * its other threads may be waiting for main to react to the failure. */
typedef void (*ss_interp_error_fn)(void *arg, const char *message, size_t len);

/* Create the interpreter, run program (UTF-8 source) in its __main__ with
 * __pool_id__ and __worker_index__ set, then end it with Py_EndInterpreter.
 * Returns once the interpreter is gone. */
void ss_interp_run(const char *program, int64_t pool_id, int index,
                   ss_interp_error_fn on_error, void *arg);

#endif
