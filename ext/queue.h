/* The request queue: bounded, many producers and many consumers, shared by
 * every interpreter of the process. Items are plain memory (an fd, integers
 * and two byte strings); nothing in here touches a Python object, so callers
 * release their GIL around the blocking calls.
 *
 * Queues are counted objects (object.h) in a process-wide registry, named
 * by integer ids, so that each interpreter can bind them with nothing but an
 * int. Every function taking a queue needs a reference held by the caller. */
#ifndef SUBSERVE_QUEUE_H
#define SUBSERVE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "object.h"

typedef struct ss_item {
    struct ss_item *next;
    int fd;                 /* SS_STOP_FD: a stop sentinel */
    unsigned flags;
    int64_t content_length;
    size_t record_len;
    size_t data_len;
    char bytes[];           /* record, then data */
} ss_item;

/* The fd of a stop item: the worker thread that takes it ends. */
#define SS_STOP_FD (-1)

typedef struct ss_queue ss_queue;

/* One allocation holding the item and copies of both byte strings; with
 * record NULL, the caller fills the record_len bytes itself. */
ss_item *ss_item_new(int fd, unsigned flags, int64_t content_length,
                     const char *record, size_t record_len,
                     const char *data, size_t data_len);
void ss_item_free(ss_item *item);
static inline const char *ss_item_record(const ss_item *it) { return it->bytes; }
static inline const char *ss_item_data(const ss_item *it) { return it->bytes + it->record_len; }

#define SS_QUEUE_MAX_GROUPS 1024

/* ngroups: consumer groups (worker interpreters), 1 .. SS_QUEUE_MAX_GROUPS.
 * The new queue is registered; *out is the caller's reference. */
int ss_queue_create(size_t capacity, int ngroups, ss_queue **out);
/* Look up an open queue and take a reference; NULL when there is none. */
ss_queue *ss_queue_acquire(int64_t id);
/* Drop a reference; the memory goes with the last one. */
void ss_queue_release(ss_queue *q);
static inline int64_t ss_queue_id(const ss_queue *q) { return ((const ss_object *)q)->id; }
/* Close the queue (waiters wake with SS_ERR_CLOSED, and every later
 * call fails with it) and drop it from the registry. SS_ERR_CLOSED when it
 * already was. */
int ss_queue_destroy(ss_queue *q);

/* put takes ownership of item on success. block=0 returns SS_ERR_QUEUE_FULL. */
int ss_queue_put(ss_queue *q, ss_item *item, int block);
/* Put count stop items (fd SS_STOP_FD), waiting for room. */
int ss_queue_put_stop(ss_queue *q, int count);
/* get: block=0 returns SS_ERR_QUEUE_EMPTY; timeout_ms < 0 waits for ever,
 * else returns SS_ERR_QUEUE_EMPTY when it expires. group is the caller's
 * consumer group (its interpreter): a put wakes a waiter of the group with
 * the fewest threads running. A thread counts as running in its group from
 * a successful get until its next get. */
int ss_queue_get(ss_queue *q, ss_item **out, int block, int64_t timeout_ms, int group);
int ss_queue_len(ss_queue *q, size_t *out);
/* An eventfd for event loops to watch; created on first use, after which a
 * put into an empty queue signals it, and so does destroy. A reader must drain the queue until
 * empty (or re-signal the fd when it stops early). */
int ss_queue_wakeup_fd(ss_queue *q);

#endif
