/* The request queue (see queue.h). A mutex and condition variables: no
 * polling and no sleeping loops; waiters are woken exactly when state changes.
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

#define SS_MAX_QUEUES 256

typedef struct {
    pthread_cond_t not_empty;
    int waiting;    /* threads blocked in get */
    int woken;      /* of those, signalled and not yet back from the wait */
    int running;    /* threads that took an item and have not come back */
} group;

struct ss_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    group *groups;
    int ngroups;
    int next_group;     /* where wake_one's search starts */
    int woken;          /* signalled waiters of every group, not yet back */
    uint64_t serial;    /* tells this queue from a later one at the same address */
    ss_item *head, *tail;
    size_t len, capacity;
    int closed;
    int refs;       /* registry's one + each acquirer's; atomic */
    int wake_fd;    /* -1 until someone asks for it */
};

/* Process-wide: every interpreter's module instance sees the same queues. */
static void *queue_slots[SS_MAX_QUEUES];
static ss_registry registry = SS_REGISTRY(queue_slots);

/* The group this thread counts as running in, and in which queue. */
static _Thread_local uint64_t running_queue;
static _Thread_local int running_group = -1;
static uint64_t last_serial;

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
    for (int g = 0; g < q->ngroups; g++)
        pthread_cond_destroy(&q->groups[g].not_empty);
    free(q->groups);
    pthread_cond_destroy(&q->not_full);
    free(q);
}

int ss_queue_create(size_t capacity, int ngroups, int64_t *id_out)
{
    if (ngroups < 1 || ngroups > SS_QUEUE_MAX_GROUPS)
        return SS_ERR_BAD_GROUP;
    ss_queue *q = calloc(1, sizeof(*q));
    group *groups = calloc((size_t)ngroups, sizeof(*groups));
    if (q == NULL || groups == NULL) {
        free(q);
        free(groups);
        return SS_ERR_NOMEM;
    }
    q->groups = groups;
    q->ngroups = ngroups;
    q->serial = __atomic_add_fetch(&last_serial, 1, __ATOMIC_RELAXED);
    pthread_mutex_init(&q->mu, NULL);
    for (int g = 0; g < ngroups; g++)
        ss_cond_init_monotonic(&groups[g].not_empty);
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
    for (int g = 0; g < q->ngroups; g++)
        pthread_cond_broadcast(&q->groups[g].not_empty);
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
    while (q->head == NULL && !q->closed && !timed_out) {
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
    return q->head != NULL || q->closed;
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
    if (running_queue == q->serial && running_group >= 0) {
        q->groups[running_group].running--;   /* done with the last item */
        running_group = -1;
    }
    if (q->head == NULL && !q->closed) {
        if (!block || !wait_for_item(q, gr, timeout_ms < 0 ? NULL : &deadline)) {
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
    gr->running++;
    running_queue = q->serial;
    running_group = grp;
    wake_one(q);   /* items left over for nobody woken: pass it on (heals a lost signal) */
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
