/* The interpreter pool (see pool.h): plain C bookkeeping of worker states,
 * waits and joins. No Python here; each worker thread runs its interpreter
 * through interp.c. */
#include "pool.h"
#include "errors.h"
#include "interp.h"
#include "registry.h"
#include "timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    ss_pool *pool;
    int index;
    pthread_t thread;
    int thread_started;
    int finished;   /* the thread touched the pool for the last time */
    int joined;     /* claimed by a joiner */
    int state;
    int loaded;
    char *message;
    char *program;
} ss_worker;

struct ss_pool {
    ss_object obj;      /* first: a pool is a counted object */
    pthread_mutex_t mu; /* guards every worker field and obj.closed's meaning */
    pthread_cond_t changed;
    ss_interp_where where;
    int n;
    ss_worker workers[];
};

static ss_registry registry = SS_REGISTRY_INIT;

/* Every thread we start blocks the asynchronous signals, so that they wait
 * for the main thread's sigtimedwait, but never the synchronous ones: a
 * fault in a thread with SIGSEGV blocked kills the process before any
 * handler runs, and faulthandler could not print the crashing traceback. */
int ss_start_thread(void *(*fn)(void *), void *arg, void *thread_out)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    sigset_t all, old;
    sigfillset(&all);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create((pthread_t *)thread_out, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? SS_OK : -rc;
}

/* Must be called with pool->mu held. */
static void set_state(ss_worker *w, int state, const char *message, size_t len)
{
    w->state = state;
    if (state == SS_WORKER_READY)
        w->loaded = 1;
    if (message != NULL && w->message == NULL) {
        w->message = malloc(len + 1);
        if (w->message) {
            memcpy(w->message, message, len);
            w->message[len] = '\0';
        }
    }
    pthread_cond_broadcast(&w->pool->changed);
}

/* The worker's interpreter could not start or its program raised: FAILED
 * while loading the app, EXITED once it had served. */
static void worker_failed(void *arg, const char *message, size_t len)
{
    ss_worker *w = arg;
    pthread_mutex_lock(&w->pool->mu);
    set_state(w, w->loaded ? SS_WORKER_EXITED : SS_WORKER_FAILED, message, len);
    pthread_mutex_unlock(&w->pool->mu);
}

/* Holds a reference on the pool (taken by ss_pool_start) until its last
 * touch of it, so the pool outlives the thread whatever main does. */
static void *worker_main(void *arg)
{
    ss_worker *w = arg;
    ss_pool *p = w->pool;
    ss_interp_run(p->where, w->program, p->obj.id, w->index, worker_failed, w);
    /* EXITED in every case, also when the interpreter never started: join
     * waits for this. */
    pthread_mutex_lock(&p->mu);
    set_state(w, SS_WORKER_EXITED, NULL, 0);
    w->finished = 1;
    pthread_mutex_unlock(&p->mu);
    ss_pool_release(p);
    return NULL;
}

/* With the last reference. A thread nobody joined has finished (it held a
 * reference until then): detach it so the system reclaims it. */
static void pool_free(ss_object *o)
{
    ss_pool *p = (ss_pool *)o;
    for (int i = 0; i < p->n; i++) {
        ss_worker *w = &p->workers[i];
        if (w->thread_started && !w->joined)
            pthread_detach(w->thread);
        free(w->message);
        free(w->program);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->changed);
    free(p);
}

static ss_pool *pool_new(const char *program, size_t length, int n)
{
    ss_pool *p = calloc(1, sizeof(*p) + (size_t)n * sizeof(ss_worker));
    if (p == NULL)
        return NULL;
    ss_object_init(&p->obj, "pool", pool_free);
    pthread_mutex_init(&p->mu, NULL);
    ss_cond_init_monotonic(&p->changed);
    p->n = n;
    for (int i = 0; i < n; i++) {
        ss_worker *w = &p->workers[i];
        w->pool = p;
        w->index = i;
        w->program = malloc(length + 1);
        if (w->program == NULL) {
            pool_free(&p->obj);
            return NULL;
        }
        memcpy(w->program, program, length);
        w->program[length] = '\0';
    }
    return p;
}

int ss_pool_start(const char *program, size_t length, int n, ss_interp_where where,
                  ss_pool **out)
{
    if (n < 1)
        return SS_ERR_BAD_ARG;
    ss_pool *p = pool_new(program, length, n);
    if (p == NULL)
        return SS_ERR_NOMEM;
    p->where = where;
    ss_registry_add(&registry, &p->obj);   /* before the threads: they bind it */
    const char *msg = "could not start a thread";
    for (int i = 0; i < n; i++) {
        ss_worker *w = &p->workers[i];
        ss_object_incref(&p->obj);   /* the thread's */
        int rc = ss_start_thread(worker_main, w, &w->thread);
        pthread_mutex_lock(&p->mu);
        if (rc == SS_OK) {
            w->thread_started = 1;
        } else {
            set_state(w, SS_WORKER_EXITED, msg, strlen(msg));
            ss_object_decref(&p->obj);   /* not the last: ours is held */
        }
        pthread_mutex_unlock(&p->mu);
    }
    *out = p;
    return SS_OK;
}

ss_pool *ss_pool_acquire(int64_t id)
{
    return (ss_pool *)ss_registry_acquire(&registry, id);
}

void ss_pool_release(ss_pool *p)
{
    ss_object_decref(&p->obj);
}

int ss_pool_size(const ss_pool *p)
{
    return p->n;
}

int ss_pool_report(ss_pool *p, int index, int ok, const char *message, size_t len)
{
    if (index < 0 || index >= p->n)
        return SS_ERR_BAD_INDEX;
    pthread_mutex_lock(&p->mu);
    int closed = p->obj.closed;
    if (!closed)
        set_state(&p->workers[index], ok ? SS_WORKER_READY : SS_WORKER_FAILED, message, len);
    pthread_mutex_unlock(&p->mu);
    return closed ? SS_ERR_CLOSED : SS_OK;
}

/* With p->mu held: has the pool reached a state `wait` reports on? */
static int settled(ss_pool *p)
{
    int starting = 0;
    for (int i = 0; i < p->n; i++) {
        int s = p->workers[i].state;
        if (s == SS_WORKER_FAILED || s == SS_WORKER_EXITED)
            return 1;
        starting += s == SS_WORKER_STARTING;
    }
    return starting == 0;
}

int ss_pool_wait(ss_pool *p, int64_t timeout_ms, ss_worker_status *out, int n)
{
    struct timespec deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (!p->obj.closed && !settled(p)) {
        if (pthread_cond_timedwait(&p->changed, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    for (int i = 0; i < n && i < p->n; i++) {
        out[i].state = p->workers[i].state;
        out[i].loaded = p->workers[i].loaded;
        out[i].message = p->workers[i].message ? strdup(p->workers[i].message) : NULL;
    }
    int closed = p->obj.closed;
    pthread_mutex_unlock(&p->mu);
    return closed ? SS_ERR_CLOSED : SS_OK;
}

/* With p->mu held. */
static int count_running(ss_pool *p)
{
    int running = 0;
    for (int i = 0; i < p->n; i++)
        running += p->workers[i].thread_started && !p->workers[i].finished;
    return running;
}

/* Join every finished thread nobody claimed yet. Each is claimed under the
 * mutex, so that two joiners never join one thread. */
static void join_finished(ss_pool *p)
{
    for (int i = 0; i < p->n; i++) {
        ss_worker *w = &p->workers[i];
        pthread_mutex_lock(&p->mu);
        int mine = w->thread_started && w->finished && !w->joined;
        w->joined |= mine;
        pthread_t thread = w->thread;
        pthread_mutex_unlock(&p->mu);
        if (mine)
            pthread_join(thread, NULL);
    }
}

int64_t ss_pool_join(ss_pool *p, int64_t timeout_ms)
{
    struct timespec deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    int closed = p->obj.closed;
    while (!closed && count_running(p) > 0) {
        if (pthread_cond_timedwait(&p->changed, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int running = count_running(p);
    pthread_mutex_unlock(&p->mu);
    if (closed)
        return SS_ERR_CLOSED;
    join_finished(p);
    return running;
}

int ss_pool_destroy(ss_pool *p, int *running)
{
    pthread_mutex_lock(&p->mu);
    int unjoined = 0;
    for (int i = 0; i < p->n; i++)
        unjoined += p->workers[i].thread_started && !p->workers[i].joined;
    int rc = SS_OK;
    if (p->obj.closed)
        rc = SS_ERR_CLOSED;
    else if (unjoined > 0)
        rc = SS_ERR_RUNNING;
    else
        ss_object_close(&p->obj);
    if (rc == SS_OK)
        pthread_cond_broadcast(&p->changed);   /* waiters return, closed */
    pthread_mutex_unlock(&p->mu);
    *running = unjoined;
    if (rc == SS_OK)
        ss_registry_remove(&registry, &p->obj);
    return rc;
}
