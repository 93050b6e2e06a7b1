/* The interpreter pool (see pool.h). Each worker thread owns one OWN_GIL
 * subinterpreter from creation to Py_EndInterpreter. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pool.h"
#include "errors.h"
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

/* Turn the pending exception into text, in the worker's interpreter. Uses
 * traceback.format_exception so the user sees what they would see in main. */
static PyObject *format_exception(void)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (exc == NULL)
        return PyUnicode_FromString("unknown error");
    PyObject *text = NULL;
    PyObject *tb = PyImport_ImportModule("traceback");
    if (tb != NULL) {
        PyObject *lines = PyObject_CallMethod(tb, "format_exception", "O", exc);
        if (lines != NULL) {
            PyObject *empty = PyUnicode_FromString("");
            if (empty != NULL)
                text = PyUnicode_Join(empty, lines);
            Py_XDECREF(empty);
            Py_DECREF(lines);
        }
        Py_DECREF(tb);
    }
    if (text == NULL) {
        PyErr_Clear();
        text = PyObject_Str(exc);
    }
    Py_DECREF(exc);
    return text;
}

static void run_program(ss_worker *w)
{
    PyObject *main_mod = PyImport_AddModuleRef("__main__");
    PyObject *result = NULL;
    if (main_mod != NULL) {
        /* The program learns who it is from two globals: ids, not objects. */
        PyObject *globals = PyModule_GetDict(main_mod);
        PyObject *pool_id = PyLong_FromLongLong(w->pool->id);
        PyObject *index = PyLong_FromLong(w->index);
        if (pool_id && index && PyDict_SetItemString(globals, "__pool_id__", pool_id) == 0
            && PyDict_SetItemString(globals, "__worker_index__", index) == 0)
            result = PyRun_String(w->program, Py_file_input, globals, globals);
        Py_XDECREF(pool_id);
        Py_XDECREF(index);
        Py_DECREF(main_mod);
    }
    if (result != NULL) {
        Py_DECREF(result);
        return;
    }
    PyObject *text = format_exception();
    Py_ssize_t len = 0;
    const char *msg = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
    if (msg == NULL) {
        PyErr_Clear();
        msg = "worker failed; its error could not be formatted";
        len = (Py_ssize_t)strlen(msg);
    }
    pthread_mutex_lock(&w->pool->mu);
    set_state(w, w->loaded ? SS_WORKER_EXITED : SS_WORKER_FAILED, msg, (size_t)len);
    pthread_mutex_unlock(&w->pool->mu);
    Py_XDECREF(text);
}

static void *worker_main(void *arg)
{
    ss_worker *w = arg;
    const PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 1,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *tstate = NULL;
    PyStatus status = Py_NewInterpreterFromConfig(&tstate, &config);
    if (PyStatus_Exception(status) || tstate == NULL) {
        const char *msg = status.err_msg ? status.err_msg : "Py_NewInterpreterFromConfig failed";
        pthread_mutex_lock(&w->pool->mu);
        set_state(w, SS_WORKER_FAILED, msg, strlen(msg));
        pthread_mutex_unlock(&w->pool->mu);
        return NULL;
    }
    run_program(w);
    /* Ends the interpreter's other threads' wait too: threading._shutdown. */
    Py_EndInterpreter(tstate);
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
