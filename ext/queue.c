/* The request queue (see queue.h). No Python here. A mutex and condition
 * variables: no polling and no sleeping loops; waiters are woken exactly
 * when state changes.
 *
 * Consumers come in groups (one per worker interpreter), each group waiting
 * on a condition variable of its own. Threads of one interpreter share its
 * GIL, so an item is best handed to a waiting thread of the interpreter with
 * the fewest threads running, ideally none: waking a thread whose GIL is held
 * by a sibling costs a GIL hand-off while another interpreter idles. The
 * counts behind that choice are kept under the queue mutex; each thread's
 * "am I running" lives in thread-local storage. */
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

typedef struct {
    pthread_cond_t not_empty;
    int waiting;    /* threads blocked in get */
    int woken;      /* of those, signalled and not yet back from the wait */
    int running;    /* threads that took an item and have not come back */
} group;

struct ss_queue {
    ss_object obj;      /* first: a queue is a counted object */
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    group *groups;
    int ngroups;
    int next_group;     /* where wake_one's search starts */
    int woken;          /* signalled waiters of every group, not yet back */
    ss_item *head, *tail;
    size_t len, capacity;
    /* obj.closed is written under mu, so the waits below may read it there */
    int wake_fd;    /* -1 until someone asks for it */
};

/* Process-wide: every interpreter's module instance sees the same queues. */
static ss_registry registry = SS_REGISTRY_INIT;

/* The group this thread counts as running in, and in which queue (by id:
 * ids are never reused, so a later queue at the same address differs). */
static _Thread_local int64_t running_queue;
static _Thread_local int running_group = -1;

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

static void queue_free(ss_object *o)
{
    ss_queue *q = (ss_queue *)o;
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
    for (int g = 0; g < q->ngroups; g++)
        pthread_cond_destroy(&q->groups[g].not_empty);
    free(q->groups);
    pthread_cond_destroy(&q->not_full);
    free(q);
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

int ss_queue_create(size_t capacity, int ngroups, ss_queue **out)
{
    if (ngroups < 1 || ngroups > SS_QUEUE_MAX_GROUPS)
        return SS_ERR_BAD_ARG;
    ss_queue *q = calloc(1, sizeof(*q));
    group *groups = calloc((size_t)ngroups, sizeof(*groups));
    if (q == NULL || groups == NULL) {
        free(q);
        free(groups);
        return SS_ERR_NOMEM;
    }
    ss_object_init(&q->obj, "queue", queue_free);
    q->groups = groups;
    q->ngroups = ngroups;
    pthread_mutex_init(&q->mu, NULL);
    for (int g = 0; g < ngroups; g++)
        ss_cond_init_monotonic(&groups[g].not_empty);
    ss_cond_init_monotonic(&q->not_full);
    q->capacity = capacity ? capacity : 1;
    q->wake_fd = -1;
    ss_registry_add(&registry, &q->obj);
    *out = q;
    return SS_OK;
}

ss_queue *ss_queue_acquire(int64_t id)
{
    return (ss_queue *)ss_registry_acquire(&registry, id);
}

void ss_queue_release(ss_queue *q)
{
    ss_object_decref(&q->obj);
}

int ss_queue_destroy(ss_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int first = ss_object_close(&q->obj);
    if (first) {
        for (int g = 0; g < q->ngroups; g++)
            pthread_cond_broadcast(&q->groups[g].not_empty);
        pthread_cond_broadcast(&q->not_full);
        /* Event loops watching the fd are waiters too: they look, and
         * find the queue closed. */
        signal_wake_fd(q);
    }
    pthread_mutex_unlock(&q->mu);
    if (!first)
        return SS_ERR_CLOSED;
    ss_registry_remove(&registry, &q->obj);
    return SS_OK;
}

/* With q->mu held: if the queue holds more items than there are woken
 * waiters on their way to take them, wake one more waiting thread, of the
 * group with the fewest threads running (counting those already woken,
 * which are about to run). The search starts after the last group woken,
 * so equally idle groups take turns. Nobody waiting unsignalled: nothing
 * to do, a running thread will come back for the item. */
static void wake_one(ss_queue *q)
{
    if (q->len <= (size_t)q->woken)
        return;
    int best = -1, best_load = 0;
    for (int i = 0; i < q->ngroups; i++) {
        int g = (q->next_group + i) % q->ngroups;
        group *gr = &q->groups[g];
        if (gr->waiting <= gr->woken)
            continue;
        int load = gr->running + gr->woken;
        if (best < 0 || load < best_load) {
            best = g;
            best_load = load;
            if (load == 0)
                break;   /* an idle interpreter: as good as it gets */
        }
    }
    if (best >= 0) {
        q->groups[best].woken++;
        q->woken++;
        q->next_group = (best + 1) % q->ngroups;
        pthread_cond_signal(&q->groups[best].not_empty);
    }
}

int ss_queue_put(ss_queue *q, ss_item *item, int block)
{
    pthread_mutex_lock(&q->mu);
    while (!q->obj.closed && q->len >= q->capacity) {
        if (!block) {
            pthread_mutex_unlock(&q->mu);
            return SS_ERR_QUEUE_FULL;
        }
        pthread_cond_wait(&q->not_full, &q->mu);
    }
    if (q->obj.closed) {
        pthread_mutex_unlock(&q->mu);
        return SS_ERR_CLOSED;
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
    wake_one(q);
    pthread_mutex_unlock(&q->mu);
    if (wake)
        signal_wake_fd(q);
    return SS_OK;
}

/* With q->mu held: block on gr until an item or the close comes (or the
 * deadline passes: returns 0). */
static int wait_for_item(ss_queue *q, group *gr, const struct timespec *deadline)
{
    gr->waiting++;
    int timed_out = 0;
    while (q->head == NULL && !q->obj.closed && !timed_out) {
        if (deadline == NULL)
            pthread_cond_wait(&gr->not_empty, &q->mu);
        else
            timed_out = pthread_cond_timedwait(&gr->not_empty, &q->mu, deadline) == ETIMEDOUT;
        /* Back from a wait: a signal meant for this group is spent (a
         * spurious wake-up may spend a sibling's; wake_one after every take
         * makes up for a signal that went missing that way). */
        if (gr->woken > 0) {
            gr->woken--;
            q->woken--;
        }
    }
    gr->waiting--;
    return q->head != NULL || q->obj.closed;
}

int ss_queue_get(ss_queue *q, ss_item **out, int block, int64_t timeout_ms, int grp)
{
    if (grp < 0 || grp >= q->ngroups)
        return SS_ERR_BAD_GROUP;
    struct timespec deadline;
    if (block && timeout_ms >= 0)
        deadline = ss_deadline_after(timeout_ms);
    group *gr = &q->groups[grp];
    pthread_mutex_lock(&q->mu);
    if (running_queue == q->obj.id && running_group >= 0) {
        q->groups[running_group].running--;   /* done with the last item */
        running_group = -1;
    }
    if (q->head == NULL && !q->obj.closed) {
        if (!block || !wait_for_item(q, gr, timeout_ms < 0 ? NULL : &deadline)) {
            pthread_mutex_unlock(&q->mu);
            return SS_ERR_QUEUE_EMPTY;
        }
    }
    if (q->obj.closed) {
        /* Items left in a destroyed queue are nobody's: its handles fail. */
        pthread_mutex_unlock(&q->mu);
        return SS_ERR_CLOSED;
    }
    ss_item *it = q->head;
    q->head = it->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->len--;
    gr->running++;
    running_queue = q->obj.id;
    running_group = grp;
    wake_one(q);   /* items left over for nobody woken: pass it on (heals a lost signal) */
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    it->next = NULL;
    *out = it;
    return SS_OK;
}

int ss_queue_len(ss_queue *q, size_t *out)
{
    pthread_mutex_lock(&q->mu);
    int closed = q->obj.closed;
    *out = q->len;
    pthread_mutex_unlock(&q->mu);
    return closed ? SS_ERR_CLOSED : SS_OK;
}

int ss_queue_put_stop(ss_queue *q, int count)
{
    for (int i = 0; i < count; i++) {
        ss_item *it = ss_item_new(SS_STOP_FD, 0, 0, NULL, 0, NULL, 0);
        if (it == NULL)
            return SS_ERR_NOMEM;
        int rc = ss_queue_put(q, it, 1);
        if (rc != SS_OK) {
            ss_item_free(it);
            return rc;
        }
    }
    return SS_OK;
}

int ss_queue_wakeup_fd(ss_queue *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->obj.closed) {
        pthread_mutex_unlock(&q->mu);
        return SS_ERR_CLOSED;
    }
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
