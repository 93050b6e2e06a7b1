/* The request queue (see queue.h). A mutex and two condition variables: no
 * polling and no sleeping loops; waiters are woken exactly when state changes. */
#include "queue.h"
#include "errors.h"
#include "registry.h"
#include "timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SS_MAX_QUEUES 256

struct ss_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    ss_item *head, *tail;
    size_t len, capacity;
    int closed;
    int refs;       /* registry's one + each acquirer's; atomic */
    int wake_fd;    /* -1 until someone asks for it */
};

/* Process-wide: every interpreter's module instance sees the same queues. */
static void *queue_slots[SS_MAX_QUEUES];
static ss_registry registry = SS_REGISTRY(queue_slots);

ss_item *ss_item_new(int fd, unsigned flags, int64_t content_length,
                     const char *record, size_t record_len,
                     const char *data, size_t data_len)
{
    ss_item *it = malloc(sizeof(*it) + record_len + data_len);
    if (it == NULL)
        return NULL;
    it->next = NULL;
    it->fd = fd;
    it->flags = flags;
    it->content_length = content_length;
    it->record_len = record_len;
    it->data_len = data_len;
    if (record != NULL && record_len)
        memcpy(it->bytes, record, record_len);
    if (data_len)
        memcpy(it->bytes + record_len, data, data_len);
    return it;
}

void ss_item_free(ss_item *item) { free(item); }

static void queue_free(ss_queue *q)
{
    ss_item *it = q->head;
    while (it != NULL) {
        ss_item *next = it->next;
        /* Connection fds belong to the engine's table, which closes them. */
        free(it);
        it = next;
    }
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q);
}

int ss_queue_create(size_t capacity, int64_t *id_out)
{
    ss_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return SS_ERR_NOMEM;
    pthread_mutex_init(&q->mu, NULL);
    ss_cond_init_monotonic(&q->not_empty);
    ss_cond_init_monotonic(&q->not_full);
    q->capacity = capacity ? capacity : 1;
    q->wake_fd = -1;
    q->refs = 1;
    int rc = ss_registry_add(&registry, q, id_out);
    if (rc != SS_OK)
        queue_free(q);
    return rc;
}

ss_queue *ss_queue_acquire(int64_t id)
{
    /* Lock-free on the hot path (every get and put). The owner destroys a
     * queue only after every other user stopped (server teardown), so the
     * pointer cannot be freed between this load and the increment. */
    ss_queue *q = ss_registry_get(&registry, id);
    if (q != NULL)
        __atomic_add_fetch(&q->refs, 1, __ATOMIC_ACQ_REL);
    return q;
}

void ss_queue_release(ss_queue *q)
{
    if (__atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
        queue_free(q);
}

int ss_queue_destroy(int64_t id)
{
    ss_queue *q = ss_registry_remove(&registry, id);
    if (q == NULL)
        return SS_ERR_NO_SUCH_QUEUE;
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    ss_queue_release(q);
    return SS_OK;
}

static void signal_wake_fd(ss_queue *q)
{
    if (q->wake_fd >= 0) {
        uint64_t one = 1;
        /* A full counter (EAGAIN) still reads as readable: nothing is lost. */
        ssize_t r = write(q->wake_fd, &one, sizeof(one));
        (void)r;
    }
}

int ss_queue_put(ss_queue *q, ss_item *item, int block)
{
    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->len >= q->capacity) {
        if (!block) {
            pthread_mutex_unlock(&q->mu);
            return SS_ERR_QUEUE_FULL;
        }
        pthread_cond_wait(&q->not_full, &q->mu);
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return SS_ERR_QUEUE_CLOSED;
    }
    item->next = NULL;
    if (q->tail)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    /* Event loops drain until empty, so only the empty -> non-empty edge
     * needs a wake-up; the write happens after unlocking. */
    int wake = q->len++ == 0 && q->wake_fd >= 0;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    if (wake)
        signal_wake_fd(q);
    return SS_OK;
}

int ss_queue_get(ss_queue *q, ss_item **out, int block, int64_t timeout_ms)
{
    struct timespec deadline;
    if (block && timeout_ms >= 0)
        deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->closed) {
        if (!block) {
            pthread_mutex_unlock(&q->mu);
            return SS_ERR_QUEUE_EMPTY;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->mu);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) == ETIMEDOUT) {
            if (q->head != NULL)
                break;
            pthread_mutex_unlock(&q->mu);
            return SS_ERR_QUEUE_EMPTY;
        }
    }
    if (q->head == NULL) {
        pthread_mutex_unlock(&q->mu);
        return SS_ERR_QUEUE_CLOSED;
    }
    ss_item *it = q->head;
    q->head = it->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    it->next = NULL;
    *out = it;
    return SS_OK;
}

size_t ss_queue_len(ss_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int ss_queue_wakeup_fd(ss_queue *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->wake_fd < 0) {
        q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->wake_fd < 0) {
            int err = -errno;
            pthread_mutex_unlock(&q->mu);
            return err;
        }
        if (q->len > 0)
            signal_wake_fd(q);
    }
    int fd = q->wake_fd;
    pthread_mutex_unlock(&q->mu);
    return fd;
}
