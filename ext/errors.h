/* Error codes returned by the engine's C functions. Internal functions return
 * 0 or a negative code (or -errno for system errors); module.c turns them into
 * Python exceptions in one place (ss_raise). No Python here. */
#ifndef SUBSERVE_ERRORS_H
#define SUBSERVE_ERRORS_H

enum {
    SS_OK = 0,
    /* -1 .. -4095 are -errno values from system calls. */
    SS_ERR_NOMEM = -5000,
    SS_ERR_NO_SUCH_QUEUE = -5001,
    SS_ERR_QUEUE_CLOSED = -5002,
    SS_ERR_QUEUE_EMPTY = -5003,
    SS_ERR_QUEUE_FULL = -5004,
    SS_ERR_NO_SUCH_ENGINE = -5005,
    SS_ERR_NO_SUCH_POOL = -5006,
    SS_ERR_BAD_FD = -5007,
    SS_ERR_TOO_MANY = -5008,
    SS_ERR_STATE = -5009,
    SS_ERR_BAD_GROUP = -5010,
};

#define SS_IS_ERRNO(code) ((code) < 0 && (code) > -4096)

#endif
