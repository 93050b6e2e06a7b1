/* Monotonic time for deadlines and condition variables. No Python here. */
#ifndef SUBSERVE_TIMEUTIL_H
#define SUBSERVE_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline int64_t ss_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait. */
static inline struct timespec ss_deadline_after(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Timed waits measure against CLOCK_MONOTONIC: wall-clock jumps must not
 * stretch or cut a timeout. */
static inline void ss_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

#endif
