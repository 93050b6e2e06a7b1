/* subserve._engine: the Python face of the C engine.
 *
 * Loaded in the main interpreter and in every worker subinterpreter
 * (multi-phase init, per-module state, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED).
 * Process-wide objects (queues, pools, engines) live in C registries and are
 * named by integer ids, so only ints and bytes cross interpreters. Every
 * blocking call releases the calling interpreter's GIL. Internal functions
 * return negative codes; ss_raise is the one place they become exceptions. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "engine.h"
#include "errors.h"
#include "http_parse.h"
#include "pool.h"
#include "queue.h"
#include "sockio.h"

#define SS_MAX_IOV 64

typedef struct {
    PyObject *error;        /* EngineError */
    PyObject *queue_closed; /* QueueClosed(EngineError) */
    PyObject *queue_empty;  /* QueueEmpty(EngineError) */
    PyObject *queue_full;   /* QueueFull(EngineError) */
} module_state;

static module_state *get_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

static PyObject *ss_raise(PyObject *module, int code)
{
    module_state *st = get_state(module);
    if (SS_IS_ERRNO(code)) {
        errno = -code;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    switch (code) {
    case SS_ERR_NOMEM: return PyErr_NoMemory();
    case SS_ERR_QUEUE_CLOSED: PyErr_SetString(st->queue_closed, "the queue is closed"); break;
    case SS_ERR_QUEUE_EMPTY: PyErr_SetString(st->queue_empty, "the queue is empty"); break;
    case SS_ERR_QUEUE_FULL: PyErr_SetString(st->queue_full, "the queue is full"); break;
    case SS_ERR_NO_SUCH_QUEUE: PyErr_SetString(st->error, "no such queue"); break;
    case SS_ERR_NO_SUCH_ENGINE: PyErr_SetString(st->error, "no such engine"); break;
    case SS_ERR_NO_SUCH_POOL: PyErr_SetString(st->error, "no such pool"); break;
    case SS_ERR_BAD_GROUP:
        PyErr_SetString(PyExc_ValueError, "no such consumer group in this queue");
        break;
    case SS_ERR_BAD_FD: PyErr_SetString(st->error, "the fd is not a connection this worker owns"); break;
    case SS_ERR_TOO_MANY: PyErr_SetString(st->error, "too many objects of this kind"); break;
    default: PyErr_Format(st->error, "engine error %d", code); break;
    }
    return NULL;
}

/* An integer id argument; -1 with an exception set when it is not one. */
static int id_from_arg(PyObject *arg, long long *id)
{
    *id = PyLong_AsLongLong(arg);
    return *id == -1 && PyErr_Occurred() ? -1 : 0;
}

/* ---- queue ---- */

/* The queue an id argument names, with a reference taken; NULL and an
 * exception when there is none. */
static ss_queue *queue_from_arg(PyObject *module, PyObject *arg)
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    ss_queue *q = ss_queue_acquire(id);
    if (q == NULL)
        ss_raise(module, SS_ERR_NO_SUCH_QUEUE);
    return q;
}

static PyObject *item_to_tuple(ss_item *it)
{
    PyObject *t = Py_BuildValue("(iIL y# y#)", it->fd, it->flags, (long long)it->content_length,
                                ss_item_record(it), (Py_ssize_t)it->record_len,
                                ss_item_data(it), (Py_ssize_t)it->data_len);
    ss_item_free(it);
    return t;
}

static PyObject *py_queue_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"capacity", "groups", NULL};
    Py_ssize_t capacity;
    int groups = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|i:queue_create", kwlist, &capacity, &groups))
        return NULL;
    if (capacity < 1)
        return PyErr_Format(PyExc_ValueError, "capacity must be >= 1");
    int64_t id;
    int rc = ss_queue_create((size_t)capacity, groups, &id);
    return rc == SS_OK ? PyLong_FromLongLong(id) : ss_raise(module, rc);
}

static PyObject *py_queue_destroy(PyObject *module, PyObject *arg)
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    int rc = ss_queue_destroy(id);
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_raise(module, rc);
}

static PyObject *py_queue_put(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"qid", "fd", "flags", "content_length", "record", "data", "block", NULL};
    long long id, clen;
    int fd, block = 1;
    unsigned int flags;
    Py_buffer record, data;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "LiILy*y*|p:queue_put", kwlist,
                                     &id, &fd, &flags, &clen, &record, &data, &block))
        return NULL;
    ss_item *it = ss_item_new(fd, flags, clen, record.buf, (size_t)record.len,
                              data.buf, (size_t)data.len);
    PyBuffer_Release(&record);
    PyBuffer_Release(&data);
    if (it == NULL)
        return PyErr_NoMemory();
    ss_queue *q = ss_queue_acquire(id);
    if (q == NULL) {
        ss_item_free(it);
        return ss_raise(module, SS_ERR_NO_SUCH_QUEUE);
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_queue_put(q, it, block);
    Py_END_ALLOW_THREADS
    ss_queue_release(q);
    if (rc != SS_OK) {
        ss_item_free(it);
        return ss_raise(module, rc);
    }
    Py_RETURN_NONE;
}

static PyObject *queue_get_impl(PyObject *module, long long id, int block, int64_t timeout_ms,
                                int group)
{
    ss_queue *q = ss_queue_acquire(id);
    if (q == NULL)
        return ss_raise(module, SS_ERR_NO_SUCH_QUEUE);
    ss_item *it = NULL;
    int rc;
    if (block) {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_queue_get(q, &it, block, timeout_ms, group);
        Py_END_ALLOW_THREADS
    } else {
        /* No wait, only the queue mutex: keeping the GIL spares the threads
         * of this interpreter a hand-off per request. */
        rc = ss_queue_get(q, &it, block, timeout_ms, group);
    }
    ss_queue_release(q);
    return rc == SS_OK ? item_to_tuple(it) : ss_raise(module, rc);
}

static PyObject *py_queue_get(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"qid", "timeout", "group", NULL};
    long long id;
    PyObject *timeout = Py_None;
    int group = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "L|O$i:queue_get", kwlist, &id, &timeout, &group))
        return NULL;
    int64_t timeout_ms = -1;
    if (timeout != Py_None) {
        double secs = PyFloat_AsDouble(timeout);
        if (secs == -1.0 && PyErr_Occurred())
            return NULL;
        timeout_ms = secs <= 0 ? 0 : (int64_t)(secs * 1000.0);
    }
    return queue_get_impl(module, id, 1, timeout_ms, group);
}

static PyObject *py_queue_get_nowait(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"qid", "group", NULL};
    long long id;
    int group = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "L|$i:queue_get_nowait", kwlist, &id, &group))
        return NULL;
    return queue_get_impl(module, id, 0, 0, group);
}

static PyObject *py_queue_len(PyObject *module, PyObject *arg)
{
    ss_queue *q = queue_from_arg(module, arg);
    if (q == NULL)
        return NULL;
    size_t n = ss_queue_len(q);
    ss_queue_release(q);
    return PyLong_FromSize_t(n);
}

static PyObject *py_queue_wakeup_fd(PyObject *module, PyObject *arg)
{
    ss_queue *q = queue_from_arg(module, arg);
    if (q == NULL)
        return NULL;
    int fd = ss_queue_wakeup_fd(q);
    ss_queue_release(q);
    return fd >= 0 ? PyLong_FromLong(fd) : ss_raise(module, fd);
}

/* ---- socket output ---- */

static PyObject *py_send_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        return PyErr_Format(PyExc_TypeError, "send_all(fd, *buffers)");
    int fd = PyLong_AsInt(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t nbuf = nargs - 1;
    if (nbuf > SS_MAX_IOV)
        return PyErr_Format(PyExc_ValueError, "at most %d buffers", SS_MAX_IOV);
    Py_buffer views[SS_MAX_IOV];
    struct iovec iov[SS_MAX_IOV];
    Py_ssize_t got = 0;
    int rc = SS_OK;
    for (; got < nbuf; got++) {
        if (PyObject_GetBuffer(args[got + 1], &views[got], PyBUF_SIMPLE) < 0)
            goto done;
        iov[got].iov_base = views[got].buf;
        iov[got].iov_len = (size_t)views[got].len;
    }
    /* First what the socket takes at once, without releasing the GIL: the
     * usual response fits, and a GIL hand-off to a sibling thread costs
     * more than the send. The rest waits for the client with the GIL released. */
    struct iovec *rest = iov;
    int nrest = (int)nbuf;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)nbuf};
    ssize_t sent = nbuf ? sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
    if (sent >= 0)
        rest = ss_advance_iov(iov, &nrest, (size_t)sent);
    else if (errno != EAGAIN && errno != EINTR)
        rc = -errno;
    if (rc == SS_OK && nrest > 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_send_iov(fd, rest, nrest);
        Py_END_ALLOW_THREADS
    }
done:
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (PyErr_Occurred())
        return NULL;
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_raise(module, rc);
}

/* ---- engine ---- */

static int parse_fd_list(PyObject *list, int *fds, int max)
{
    PyObject *seq = PySequence_Fast(list, "listen_fds must be a sequence of ints");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > max) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "between 1 and %d listening sockets", max);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        fds[i] = PyLong_AsInt(PySequence_Fast_GET_ITEM(seq, i));
        if (fds[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return (int)n;
}

static PyObject *py_engine_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"listen_fds", "queue_id", "keepalive", "header_timeout",
                             "client_timeout", "max_line", "max_head", "max_fields",
                             "max_field", NULL};
    PyObject *fd_list;
    long long qid;
    double keepalive = SS_DEFAULT_KEEPALIVE, header_timeout = SS_DEFAULT_HEADER_TIMEOUT,
           client_timeout = SS_DEFAULT_CLIENT_TIMEOUT;
    Py_ssize_t max_line = SS_DEFAULT_MAX_LINE, max_head = SS_DEFAULT_MAX_HEAD,
               max_fields = SS_DEFAULT_MAX_FIELDS, max_field = SS_DEFAULT_MAX_FIELD;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|dddnnnn:engine_create", kwlist,
                                     &fd_list, &qid, &keepalive, &header_timeout,
                                     &client_timeout, &max_line, &max_head, &max_fields,
                                     &max_field))
        return NULL;
    if (max_fields < 1 || max_fields > SS_MAX_FIELDS_CAP || max_line < 16 || max_head < 64 || max_field < 16)
        return PyErr_Format(PyExc_ValueError, "request limits out of range (max_fields <= %d)",
                            SS_MAX_FIELDS_CAP);
    int fds[SS_MAX_LISTENERS];
    int n = parse_fd_list(fd_list, fds, SS_MAX_LISTENERS);
    if (n < 0)
        return NULL;
    ss_engine_config cfg = {
        .queue_id = qid,
        .keepalive_ms = (int64_t)(keepalive * 1000),
        .header_timeout_ms = (int64_t)(header_timeout * 1000),
        .client_timeout_ms = (int64_t)(client_timeout * 1000),
        .limits = {(size_t)max_line, (size_t)max_head, (size_t)max_fields, (size_t)max_field},
    };
    int64_t id;
    int rc = ss_engine_create(fds, n, &cfg, &id);
    return rc == SS_OK ? PyLong_FromLongLong(id) : ss_raise(module, rc);
}

/* For calls taking one id and returning a status code. */
static PyObject *id_call(PyObject *module, PyObject *arg, int (*fn)(int64_t))
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(id);
    Py_END_ALLOW_THREADS
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_raise(module, rc);
}

static PyObject *py_engine_start(PyObject *m, PyObject *a) { return id_call(m, a, ss_engine_start); }
static PyObject *py_engine_drain(PyObject *m, PyObject *a) { return id_call(m, a, ss_engine_drain); }
static PyObject *py_engine_destroy(PyObject *m, PyObject *a) { return id_call(m, a, ss_engine_destroy); }
static PyObject *py_pool_destroy(PyObject *m, PyObject *a) { return id_call(m, a, ss_pool_destroy); }

/* For blocking calls taking (id, timeout in seconds) and returning a count
 * of what is still outstanding, or a negative error code. */
static PyObject *timed_count_call(PyObject *module, PyObject *args, const char *format,
                                  int64_t (*fn)(int64_t, int64_t))
{
    long long id;
    double timeout;
    if (!PyArg_ParseTuple(args, format, &id, &timeout))
        return NULL;
    int64_t count;
    Py_BEGIN_ALLOW_THREADS
    count = fn(id, (int64_t)(timeout * 1000));
    Py_END_ALLOW_THREADS
    return count >= 0 ? PyLong_FromLongLong(count) : ss_raise(module, (int)count);
}

static PyObject *py_engine_wait_idle(PyObject *m, PyObject *args)
{
    return timed_count_call(m, args, "Ld:engine_wait_idle", ss_engine_wait_idle);
}

static PyObject *py_pool_join(PyObject *m, PyObject *args)
{
    return timed_count_call(m, args, "Ld:pool_join", ss_pool_join);
}

static PyObject *py_engine_stats(PyObject *module, PyObject *arg)
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    ss_engine_stats s;
    int rc = ss_engine_get_stats(id, &s);
    if (rc != SS_OK)
        return ss_raise(module, rc);
    return Py_BuildValue("{sKsKsKsLsL}", "accepted", (unsigned long long)s.accepted,
                         "requests", (unsigned long long)s.requests,
                         "rejected", (unsigned long long)s.rejected,
                         "busy", (long long)s.busy, "open", (long long)s.open);
}

static PyObject *py_release(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "release(eid, fd, keep_alive, leftover)");
    long long id = PyLong_AsLongLong(args[0]);
    int fd = PyLong_AsInt(args[1]);
    int keep_alive = PyObject_IsTrue(args[2]);
    if (PyErr_Occurred())
        return NULL;
    Py_buffer left;
    if (PyObject_GetBuffer(args[3], &left, PyBUF_SIMPLE) < 0)
        return NULL;
    ss_item *next = NULL;
    /* With the GIL held: nothing in here waits (a mutex, epoll_ctl, a parse),
     * and releasing it would hand it to a sibling thread for every request. */
    int rc = ss_engine_release(id, fd, keep_alive, left.buf, (size_t)left.len, &next);
    PyBuffer_Release(&left);
    if (rc != SS_OK)
        return ss_raise(module, rc);
    return next ? item_to_tuple(next) : Py_NewRef(Py_None);
}

static PyObject *py_draining(PyObject *module, PyObject *arg)
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    int d = ss_engine_draining(id);
    return d >= 0 ? PyBool_FromLong(d) : ss_raise(module, d);
}

static PyObject *py_engine_drain_fd(PyObject *module, PyObject *arg)
{
    long long id;
    if (id_from_arg(arg, &id) < 0)
        return NULL;
    int fd = ss_engine_drain_fd(id);
    return fd >= 0 ? PyLong_FromLong(fd) : ss_raise(module, fd);
}

/* ---- pool ---- */

static PyObject *py_pool_start(PyObject *module, PyObject *args)
{
    const char *program;
    Py_ssize_t len;
    int n;
    if (!PyArg_ParseTuple(args, "s#i:pool_start", &program, &len, &n))
        return NULL;
    if (n < 1 || n > 1024)
        return PyErr_Format(PyExc_ValueError, "between 1 and 1024 workers");
    int64_t id;
    int rc = ss_pool_start(program, (size_t)len, n, &id);
    return rc == SS_OK ? PyLong_FromLongLong(id) : ss_raise(module, rc);
}

static PyObject *py_pool_report(PyObject *module, PyObject *args)
{
    long long id;
    int index, ok;
    const char *msg;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "Lips#:pool_report", &id, &index, &ok, &msg, &len))
        return NULL;
    int rc = ss_pool_report(id, index, ok, msg, (size_t)len);
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_raise(module, rc);
}

static PyObject *statuses_to_list(ss_worker_status *st, int n)
{
    PyObject *list = PyList_New(n);
    for (int i = 0; list != NULL && i < n; i++) {
        PyObject *t = Py_BuildValue("(iNz)", st[i].state, PyBool_FromLong(st[i].loaded), st[i].message);
        if (t == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, t);
    }
    for (int i = 0; i < n; i++)
        free(st[i].message);
    return list;
}

static PyObject *py_pool_wait(PyObject *module, PyObject *args)
{
    long long id;
    double timeout;
    if (!PyArg_ParseTuple(args, "Ld:pool_wait", &id, &timeout))
        return NULL;
    int n = ss_pool_size(id);
    if (n < 0)
        return ss_raise(module, n);
    ss_worker_status *st = PyMem_RawCalloc((size_t)n, sizeof(*st));
    if (st == NULL)
        return PyErr_NoMemory();
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_pool_wait(id, (int64_t)(timeout * 1000), st, n);
    Py_END_ALLOW_THREADS
    PyObject *result = rc == SS_OK ? statuses_to_list(st, n) : ss_raise(module, rc);
    PyMem_RawFree(st);
    return result;
}

/* ---- the parser, for tests and the corpus; keeps no state between calls ---- */

/* Field names go to Python lower-cased, as the head record carries them. */
static PyObject *lower_bytes(const char *s, size_t n)
{
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (b == NULL)
        return NULL;
    char *d = PyBytes_AS_STRING(b);
    for (size_t i = 0; i < n; i++)
        d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + ('a' - 'A')) : s[i];
    return b;
}

static PyObject *fields_list(const ss_request *req)
{
    PyObject *list = PyList_New((Py_ssize_t)req->nfields);
    if (list == NULL)
        return NULL;
    for (size_t k = 0; k < req->nfields; k++) {
        const ss_field *f = &req->fields[k];
        PyObject *name = lower_bytes(f->name, f->name_len);
        PyObject *pair = name ? Py_BuildValue("(Ny#)", name, f->value, (Py_ssize_t)f->value_len) : NULL;
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)k, pair);
    }
    return list;
}

static PyObject *head_tuple(int64_t head_len, const ss_request *req)
{
    PyObject *fields = fields_list(req);
    if (fields == NULL)
        return NULL;
    return Py_BuildValue("(Ly#y#iILN)", (long long)head_len,
                         req->method, (Py_ssize_t)req->method_len,
                         req->target, (Py_ssize_t)req->target_len,
                         req->minor, req->flags, (long long)req->content_length, fields);
}

static int check_limits(Py_ssize_t max_line, Py_ssize_t max_head, Py_ssize_t max_fields,
                        Py_ssize_t max_field)
{
    if (max_line < 0 || max_head < 0 || max_fields < 0 || max_field < 0) {
        PyErr_SetString(PyExc_ValueError, "parse_head: limits must be >= 0");
        return -1;
    }
    if (max_fields > SS_MAX_FIELDS_CAP) {
        PyErr_Format(PyExc_ValueError, "parse_head: max_fields must be <= %d", SS_MAX_FIELDS_CAP);
        return -1;
    }
    return 0;
}

static PyObject *py_parse_head(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *const kwlist[] = {"data", "max_line", "max_head", "max_fields", "max_field", NULL};
    (void)module; /* no module state needed */
    Py_buffer data;
    Py_ssize_t max_line = SS_DEFAULT_MAX_LINE, max_head = SS_DEFAULT_MAX_HEAD,
               max_fields = SS_DEFAULT_MAX_FIELDS, max_field = SS_DEFAULT_MAX_FIELD;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|$nnnn:parse_head", kwlist, &data,
                                     &max_line, &max_head, &max_fields, &max_field))
        return NULL;
    if (check_limits(max_line, max_head, max_fields, max_field) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    ss_limits lim = {(size_t)max_line, (size_t)max_head, (size_t)max_fields, (size_t)max_field};
    ss_request req; /* ~8 KiB, on the stack: no allocation for a miss */
    int64_t n = ss_parse_request(data.buf, (size_t)data.len, &lim, &req);
    PyObject *result = n <= 0 ? PyLong_FromLongLong((long long)n) : head_tuple(n, &req);
    PyBuffer_Release(&data);
    return result;
}

/* ---- module ---- */

static PyMethodDef methods[] = {
    {"queue_create", (PyCFunction)(void (*)(void))py_queue_create, METH_VARARGS | METH_KEYWORDS,
     "queue_create(capacity, groups=1) -> qid; groups: consumer groups (worker interpreters)"},
    {"queue_destroy", py_queue_destroy, METH_O, "queue_destroy(qid): close; waiters get QueueClosed"},
    {"queue_put", (PyCFunction)(void (*)(void))py_queue_put, METH_VARARGS | METH_KEYWORDS,
     "queue_put(qid, fd, flags, content_length, record, data, block=True)"},
    {"queue_get", (PyCFunction)(void (*)(void))py_queue_get, METH_VARARGS | METH_KEYWORDS,
     "queue_get(qid, timeout=None, *, group=0) -> (fd, flags, content_length, record, data); "
     "GIL released"},
    {"queue_get_nowait", (PyCFunction)(void (*)(void))py_queue_get_nowait,
     METH_VARARGS | METH_KEYWORDS, "queue_get_nowait(qid, *, group=0) -> item or QueueEmpty"},
    {"queue_len", py_queue_len, METH_O, "queue_len(qid) -> int"},
    {"queue_wakeup_fd", py_queue_wakeup_fd, METH_O, "queue_wakeup_fd(qid) -> eventfd signalled on put"},
    {"send_all", (PyCFunction)(void (*)(void))py_send_all, METH_FASTCALL,
     "send_all(fd, *buffers): gather-send everything; GIL released"},
    {"engine_create", (PyCFunction)(void (*)(void))py_engine_create, METH_VARARGS | METH_KEYWORDS,
     "engine_create(listen_fds, queue_id, keepalive=DEFAULT_KEEPALIVE, ...) -> eid; "
     "every limit defaults to its DEFAULT_* constant"},
    {"engine_start", py_engine_start, METH_O, "engine_start(eid): start the I/O thread"},
    {"engine_drain", py_engine_drain, METH_O, "engine_drain(eid): close listeners and idle connections"},
    {"engine_wait_idle", py_engine_wait_idle, METH_VARARGS,
     "engine_wait_idle(eid, timeout) -> connections still owned by workers"},
    {"engine_destroy", py_engine_destroy, METH_O, "engine_destroy(eid): stop and free"},
    {"engine_stats", py_engine_stats, METH_O, "engine_stats(eid) -> dict of counters"},
    {"release", (PyCFunction)(void (*)(void))py_release, METH_FASTCALL,
     "release(eid, fd, keep_alive, leftover) -> next item or None"},
    {"draining", py_draining, METH_O, "draining(eid) -> bool"},
    {"engine_drain_fd", py_engine_drain_fd, METH_O,
     "engine_drain_fd(eid) -> eventfd that turns readable, for good, when draining begins"},
    {"pool_start", py_pool_start, METH_VARARGS,
     "pool_start(program, n) -> pool id; n interpreters each run program"},
    {"pool_report", py_pool_report, METH_VARARGS, "pool_report(pid, index, ok, message)"},
    {"pool_wait", py_pool_wait, METH_VARARGS, "pool_wait(pid, timeout) -> [(state, loaded, message)]"},
    {"pool_join", py_pool_join, METH_VARARGS, "pool_join(pid, timeout) -> threads still running"},
    {"pool_destroy", py_pool_destroy, METH_O, "pool_destroy(pid)"},
    {"parse_head", (PyCFunction)(void (*)(void))py_parse_head, METH_VARARGS | METH_KEYWORDS,
     "parse_head(data, *, max_line, max_head, max_fields, max_field) -> 0 | -status | tuple"},
    {NULL, NULL, 0, NULL},
};

static int add_exception(PyObject *module, PyObject **slot, const char *name, PyObject *base)
{
    *slot = PyErr_NewException(name, base, NULL);
    if (*slot == NULL)
        return -1;
    return PyModule_AddObjectRef(module, strrchr(name, '.') + 1, *slot);
}

/* The address of a static of this shared object: the same in every
 * interpreter that loaded this very copy of it, different for another copy
 * (whose registries would not see main's queues and engines). */
static const char image_marker;

static int add_float(PyObject *module, const char *name, double value)
{
    PyObject *f = PyFloat_FromDouble(value);
    int rc = f == NULL ? -1 : PyModule_AddObjectRef(module, name, f);
    Py_XDECREF(f);
    return rc;
}

/* The contract's numbers, so that Python reads them instead of copying them:
 * queue-item flags, the stop item's fd, worker states, default limits. */
static int add_constants(PyObject *module)
{
    static const struct { const char *name; long value; } ints[] = {
        {"F_KEEP_ALIVE", SS_F_KEEP_ALIVE}, {"F_CHUNKED", SS_F_CHUNKED},
        {"F_EXPECT_CONTINUE", SS_F_EXPECT_CONTINUE}, {"F_UPGRADE", SS_F_UPGRADE},
        {"F_HTTP11", SS_F_HTTP11}, {"STOP_FD", SS_STOP_FD},
        {"WORKER_STARTING", SS_WORKER_STARTING}, {"WORKER_READY", SS_WORKER_READY},
        {"WORKER_FAILED", SS_WORKER_FAILED}, {"WORKER_EXITED", SS_WORKER_EXITED},
        {"DEFAULT_MAX_LINE", SS_DEFAULT_MAX_LINE}, {"DEFAULT_MAX_HEAD", SS_DEFAULT_MAX_HEAD},
        {"DEFAULT_MAX_FIELDS", SS_DEFAULT_MAX_FIELDS}, {"DEFAULT_MAX_FIELD", SS_DEFAULT_MAX_FIELD},
        {"MAX_FIELDS_CAP", SS_MAX_FIELDS_CAP},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (PyModule_AddIntConstant(module, ints[i].name, ints[i].value) < 0)
            return -1;
    PyObject *image = PyLong_FromVoidPtr((void *)&image_marker);
    int rc = image == NULL ? -1 : PyModule_AddObjectRef(module, "IMAGE_ID", image);
    Py_XDECREF(image);
    if (rc < 0 || add_float(module, "DEFAULT_KEEPALIVE", SS_DEFAULT_KEEPALIVE) < 0
        || add_float(module, "DEFAULT_HEADER_TIMEOUT", SS_DEFAULT_HEADER_TIMEOUT) < 0
        || add_float(module, "DEFAULT_CLIENT_TIMEOUT", SS_DEFAULT_CLIENT_TIMEOUT) < 0)
        return -1;
    return 0;
}

static int module_exec(PyObject *module)
{
    module_state *st = get_state(module);
    if (add_exception(module, &st->error, "subserve._engine.EngineError", PyExc_RuntimeError) < 0
        || add_exception(module, &st->queue_closed, "subserve._engine.QueueClosed", st->error) < 0
        || add_exception(module, &st->queue_empty, "subserve._engine.QueueEmpty", st->error) < 0
        || add_exception(module, &st->queue_full, "subserve._engine.QueueFull", st->error) < 0)
        return -1;
    return add_constants(module);
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = get_state(module);
    Py_VISIT(st->error);
    Py_VISIT(st->queue_closed);
    Py_VISIT(st->queue_empty);
    Py_VISIT(st->queue_full);
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = get_state(module);
    Py_CLEAR(st->error);
    Py_CLEAR(st->queue_closed);
    Py_CLEAR(st->queue_empty);
    Py_CLEAR(st->queue_full);
    return 0;
}

static void module_free(void *module) { module_clear((PyObject *)module); }

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, module_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "subserve._engine",
    .m_doc = "subserve's C engine: request queue, interpreter pool, I/O thread, HTTP parser.",
    .m_size = sizeof(module_state),
    .m_methods = methods,
    .m_slots = slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__engine(void)
{
    return PyModuleDef_Init(&engine_module);
}
