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

#define SS_MAX_POOLS 16

typedef struct ss_pool ss_pool;

typedef struct {
    ss_pool *pool;
    int index;
    pthread_t thread;
    int thread_started;
    int joined;
    int state;
    int loaded;
    char *message;
    char *program;
} ss_worker;

struct ss_pool {
    int64_t id;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    int n;
    ss_worker workers[];
};

static void *pool_slots[SS_MAX_POOLS];
static ss_registry registry = SS_REGISTRY(pool_slots);

static ss_pool *lookup(int64_t id) { return ss_registry_get(&registry, id); }

int ss_start_thread(void *(*fn)(void *), void *arg, void *thread_out)
{
    sigset_t all, old;
    sigfillset(&all);
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

static void *worker_main(void *arg)
{
    ss_worker *w = arg;
    ss_interp_run(w->program, w->pool->id, w->index, worker_failed, w);
    /* EXITED in every case, also when the interpreter never started: join
     * waits for this state. */
    pthread_mutex_lock(&w->pool->mu);
    set_state(w, SS_WORKER_EXITED, NULL, 0);
    pthread_mutex_unlock(&w->pool->mu);
    return NULL;
}

static void pool_free(ss_pool *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->workers[i].message);
        free(p->workers[i].program);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->changed);
    free(p);
}

int ss_pool_start(const char *program, size_t length, int n, int64_t *id_out)
{
    ss_pool *p = calloc(1, sizeof(*p) + (size_t)n * sizeof(ss_worker));
    if (p == NULL)
        return SS_ERR_NOMEM;
    pthread_mutex_init(&p->mu, NULL);
    ss_cond_init_monotonic(&p->changed);
    p->n = n;
    for (int i = 0; i < n; i++) {
        ss_worker *w = &p->workers[i];
        w->pool = p;
        w->index = i;
        w->program = malloc(length + 1);
        if (w->program == NULL) {
            pool_free(p);
            return SS_ERR_NOMEM;
        }
        memcpy(w->program, program, length);
        w->program[length] = '\0';
    }
    int rc = ss_registry_add(&registry, p, id_out);
    if (rc != SS_OK) {
        pool_free(p);
        return rc;
    }
    p->id = *id_out;
    const char *msg = "could not start a thread";
    for (int i = 0; i < n; i++) {
        ss_worker *w = &p->workers[i];
        rc = ss_start_thread(worker_main, w, &w->thread);
        pthread_mutex_lock(&p->mu);
        if (rc == SS_OK)
            w->thread_started = 1;
        else
            set_state(w, SS_WORKER_EXITED, msg, strlen(msg));
        pthread_mutex_unlock(&p->mu);
    }
    return SS_OK;
}

int ss_pool_report(int64_t id, int index, int ok, const char *message, size_t len)
{
    ss_pool *p = lookup(id);
    if (p == NULL)
        return SS_ERR_NO_SUCH_POOL;
    if (index < 0 || index >= p->n)
        return SS_ERR_STATE;
    pthread_mutex_lock(&p->mu);
    set_state(&p->workers[index], ok ? SS_WORKER_READY : SS_WORKER_FAILED, message, len);
    pthread_mutex_unlock(&p->mu);
    return SS_OK;
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

int ss_pool_wait(int64_t id, int64_t timeout_ms, ss_worker_status *out, int n)
{
    ss_pool *p = lookup(id);
    if (p == NULL)
        return SS_ERR_NO_SUCH_POOL;
    struct timespec deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (!settled(p)) {
        if (pthread_cond_timedwait(&p->changed, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    for (int i = 0; i < n && i < p->n; i++) {
        out[i].state = p->workers[i].state;
        out[i].loaded = p->workers[i].loaded;
        out[i].message = p->workers[i].message ? strdup(p->workers[i].message) : NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return SS_OK;
}

static int count_running(ss_pool *p)
{
    int running = 0;
    for (int i = 0; i < p->n; i++)
        running += p->workers[i].thread_started && p->workers[i].state != SS_WORKER_EXITED;
    return running;
}

int64_t ss_pool_join(int64_t id, int64_t timeout_ms)
{
    ss_pool *p = lookup(id);
    if (p == NULL)
        return SS_ERR_NO_SUCH_POOL;
    struct timespec deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&p->mu);
    /* FAILED workers still end their interpreter before EXITED. */
    while (count_running(p) > 0) {
        if (pthread_cond_timedwait(&p->changed, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int running = count_running(p);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        ss_worker *w = &p->workers[i];
        if (w->thread_started && !w->joined && w->state == SS_WORKER_EXITED) {
            pthread_join(w->thread, NULL);
            w->joined = 1;
        }
    }
    return running;
}

int ss_pool_destroy(int64_t id)
{
    ss_pool *p = lookup(id);
    if (p == NULL)
        return SS_ERR_NO_SUCH_POOL;
    for (int i = 0; i < p->n; i++)
        if (p->workers[i].thread_started && !p->workers[i].joined)
            return SS_ERR_STATE;
    ss_registry_remove(&registry, id);
    pool_free(p);
    return SS_OK;
}

int ss_pool_size(int64_t id)
{
    ss_pool *p = lookup(id);
    return p == NULL ? SS_ERR_NO_SUCH_POOL : p->n;
}
