/* The request queue: bounded, many producers and many consumers, shared by
 * every interpreter of the process. Items are plain memory (an fd, integers
 * and two byte strings); nothing in here touches a Python object, so callers
 * release their GIL around the blocking calls.
 *
 * Queues live in a process-wide registry and are named by integer ids, so
 * that each interpreter can reach them with nothing but an int. */
#ifndef SUBSERVE_QUEUE_H
#define SUBSERVE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

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

/* ngroups: consumer groups (worker interpreters), 1 .. SS_QUEUE_MAX_GROUPS. */
int ss_queue_create(size_t capacity, int ngroups, int64_t *id_out);
/* Look up and take a reference; NULL when the id is unknown or destroyed. */
ss_queue *ss_queue_acquire(int64_t id);
void ss_queue_release(ss_queue *q);
/* Close the queue (waiters wake with SS_ERR_QUEUE_CLOSED) and drop it from
 * the registry; the memory goes when the last reference is released. */
int ss_queue_destroy(int64_t id);

/* put takes ownership of item on success. block=0 returns SS_ERR_QUEUE_FULL. */
int ss_queue_put(ss_queue *q, ss_item *item, int block);
/* get: block=0 returns SS_ERR_QUEUE_EMPTY; timeout_ms < 0 waits for ever,
 * else returns SS_ERR_QUEUE_EMPTY when it expires. group is the caller's
 * consumer group (its interpreter): a put wakes a waiter of the group with
 * the fewest threads running. A thread counts as running in its group from
 * a successful get until its next get. */
int ss_queue_get(ss_queue *q, ss_item **out, int block, int64_t timeout_ms, int group);
size_t ss_queue_len(ss_queue *q);
/* An eventfd for event loops to watch; created on first use, after which a
 * put into an empty queue signals it. A reader must drain the queue until
 * empty (or re-signal the fd when it stops early). */
int ss_queue_wakeup_fd(ss_queue *q);

#endif
