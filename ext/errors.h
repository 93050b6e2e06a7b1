/* Error codes returned by the engine's C functions. Internal functions return
 * 0 or a negative code (or -errno for system errors); module.c turns them into
 * Python exceptions in one place (ss_raise), naming the object concerned.
 * No Python here. */
#ifndef SUBSERVE_ERRORS_H
#define SUBSERVE_ERRORS_H

enum {
    SS_OK = 0,
    /* -1 .. -4095 are -errno values from system calls. */
    SS_ERR_NOMEM = -5000,
    SS_ERR_NOT_FOUND = -5001,   /* no open object has this id */
    SS_ERR_CLOSED = -5002,      /* the object was destroyed */
    SS_ERR_QUEUE_EMPTY = -5003,
    SS_ERR_QUEUE_FULL = -5004,
    SS_ERR_BAD_FD = -5005,      /* not a connection a worker owns */
    SS_ERR_STARTED = -5006,     /* the engine's thread runs already */
    SS_ERR_RUNNING = -5007,     /* pool threads are not joined yet */
    SS_ERR_BAD_GROUP = -5008,   /* no such consumer group in the queue */
    SS_ERR_BAD_INDEX = -5009,   /* no such worker in the pool */
    SS_ERR_BAD_ARG = -5010,     /* an argument out of range */
};

#define SS_IS_ERRNO(code) ((code) < 0 && (code) > -4096)

#endif
