/* The Engine handle type, and engine_create / engine_bind. Touches Python.
 *
 * An Engine holds one counted reference on a process-wide ss_engine,
 * released in its dealloc; .id names the engine to other interpreters. The
 * per-request verbs (close_connection, park, next_request) and draining
 * keep the GIL; the calls that wait (wait_idle, destroy) release it. */
#include "module.h"


#include "engine.h"
#include "errors.h"
#include "http_parse.h"

#define ENGINE(self) ((ss_engine *)SS_HANDLE_OBJECT(self))


static PyObject *none_or_error(PyObject *self, int rc, int64_t detail)
{
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_handle_raise(self, rc, detail);
}

/* ---- the supervisor's methods ---- */

PyDoc_STRVAR(engine_start_doc,
"start($self, /)\n--\n\n"
"Start the I/O thread: from now on connections are accepted.");

static PyObject *engine_start(PyObject *self, PyObject *unused)
{
    return none_or_error(self, ss_engine_start(ENGINE(self)), 0);
}

PyDoc_STRVAR(engine_drain_doc,
"drain($self, /)\n--\n\n"
"Begin a graceful stop: close the listeners and the idle connections,\n"
"signal drain_fd; connections workers own finish their request.");

static PyObject *engine_drain(PyObject *self, PyObject *unused)
{
    return none_or_error(self, ss_engine_drain(ENGINE(self)), 0);
}

PyDoc_STRVAR(engine_limit_accepting_doc,
"limit_accepting($self, busy, /)\n--\n\n"
"Stop accepting connections while busy of them are owned by workers, and\n"
"accept one at a time (0: no limit, the default). For the process worker\n"
"kind, where an engine per process accepts on the same sockets: a process\n"
"whose workers are all busy leaves new connections to the others.");

static PyObject *engine_limit_accepting(PyObject *self, PyObject *arg)
{
    long long busy = PyLong_AsLongLong(arg);
    if (busy == -1 && PyErr_Occurred())
        return NULL;
    return none_or_error(self, ss_engine_limit_accepting(ENGINE(self), busy), 0);
}

PyDoc_STRVAR(engine_wait_idle_doc,
"wait_idle($self, timeout, /)\n--\n\n"
"Wait (GIL released) up to timeout seconds until no worker owns a\n"
"connection; return how many still do.");

static PyObject *engine_wait_idle(PyObject *self, PyObject *arg)
{
    int64_t ms;
    if (ss_timeout_arg(arg, 0, &ms) < 0)
        return NULL;
    int64_t busy;
    Py_BEGIN_ALLOW_THREADS
    busy = ss_engine_wait_idle(ENGINE(self), ms);
    Py_END_ALLOW_THREADS
    return busy >= 0 ? PyLong_FromLongLong(busy) : ss_handle_raise(self, (int)busy, 0);
}

PyDoc_STRVAR(engine_stats_doc,
"stats($self, /)\n--\n\n"
"Counters: accepted, requests, rejected (heads answered with an error),\n"
"busy (connections workers own now), open (connections open now);\n"
"out of fds in accept: fd_limit_episodes (runs of such errors),\n"
"fd_limit_closed (idle connections closed to make room), fd_limit_errno\n"
"(the last error, 0: none), accept_paused (1 while waiting for a free fd).");

static PyObject *engine_stats(PyObject *self, PyObject *unused)
{
    ss_engine_stats s;
    int rc = ss_engine_get_stats(ENGINE(self), &s);
    if (rc != SS_OK)
        return ss_handle_raise(self, rc, 0);
    return Py_BuildValue("{sKsKsKsLsLsKsKsisi}", "accepted", (unsigned long long)s.accepted,
                         "requests", (unsigned long long)s.requests,
                         "rejected", (unsigned long long)s.rejected,
                         "busy", (long long)s.busy, "open", (long long)s.open,
                         "fd_limit_episodes", (unsigned long long)s.fd_limit_episodes,
                         "fd_limit_closed", (unsigned long long)s.fd_limit_closed,
                         "fd_limit_errno", s.fd_limit_errno,
                         "accept_paused", s.accept_paused);
}

PyDoc_STRVAR(engine_destroy_doc,
"destroy($self, /)\n--\n\n"
"Stop and join the I/O thread (GIL released), close the listeners and the\n"
"connections the engine owns. A connection a worker still owns is closed\n"
"when it is handed back (the verb then raises) or with the last handle.\n"
"Every later call raises EngineError.");

static PyObject *engine_destroy(PyObject *self, PyObject *unused)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_engine_destroy(ENGINE(self));
    Py_END_ALLOW_THREADS
    return none_or_error(self, rc, 0);
}

PyDoc_STRVAR(engine_drain_fd_doc,
"drain_fd($self, /)\n--\n\n"
"An eventfd that turns readable, for good, when a graceful stop begins;\n"
"for event loops. The engine owns it: never read or close it.");

static PyObject *engine_drain_fd(PyObject *self, PyObject *unused)
{
    int fd = ss_engine_drain_fd(ENGINE(self));
    return fd >= 0 ? PyLong_FromLong(fd) : ss_handle_raise(self, fd, 0);
}

static PyObject *engine_get_draining(PyObject *self, void *closure)
{
    int d = ss_engine_draining(ENGINE(self));
    return d >= 0 ? PyBool_FromLong(d) : ss_handle_raise(self, d, 0);
}

/* ---- the workers' verbs ----
 * With the GIL held: nothing in here waits (a mutex, epoll_ctl, a parse),
 * and releasing it would hand it to a sibling thread for every request. */

/* The fd argument of a verb taking `want` positional arguments. */
static int verb_fd(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
                   int *fd)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd argument%s (%zd given)", name,
                     want, want == 1 ? "" : "s", nargs);
        return -1;
    }
    *fd = PyLong_AsInt(args[0]);
    return *fd == -1 && PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(engine_close_connection_doc,
"close_connection($self, fd, /)\n--\n\n"
"The worker is done with connection fd, which must close.");

static PyObject *engine_close_connection(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    if (verb_fd("close_connection", args, nargs, 1, &fd) < 0)
        return NULL;
    return none_or_error(self, ss_engine_close_connection(ENGINE(self), fd), fd);
}

PyDoc_STRVAR(engine_park_doc,
"park($self, fd, /)\n--\n\n"
"Hand the idle keep-alive connection fd back to the engine, to wait there\n"
"for its next request.");

static PyObject *engine_park(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    if (verb_fd("park", args, nargs, 1, &fd) < 0)
        return NULL;
    return none_or_error(self, ss_engine_park(ENGINE(self), fd), fd);
}

PyDoc_STRVAR(engine_next_request_doc,
"next_request($self, fd, data, /)\n--\n\n"
"Bytes read after a response on the kept connection fd: a complete head\n"
"returns its item, for this worker to serve now; a partial head is taken\n"
"over by the engine (header timeout), a bad one answered 4xx and closed:\n"
"None for both. Empty data: as park.");

static PyObject *engine_next_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    if (verb_fd("next_request", args, nargs, 2, &fd) < 0)
        return NULL;
    ss_item *next = NULL;
    int rc;
    if (PyBytes_CheckExact(args[1])) {   /* what os.read gives: no buffer protocol */
        rc = ss_engine_next_request(ENGINE(self), fd, PyBytes_AS_STRING(args[1]),
                                    (size_t)PyBytes_GET_SIZE(args[1]), &next);
    } else {
        Py_buffer data;
        if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
            return NULL;
        rc = ss_engine_next_request(ENGINE(self), fd, data.buf, (size_t)data.len, &next);
        PyBuffer_Release(&data);
    }
    if (rc != SS_OK)
        return ss_handle_raise(self, rc, fd);
    return next ? ss_item_to_tuple(next) : Py_NewRef(Py_None);
}

static PyMethodDef engine_methods[] = {
    {"start", engine_start, METH_NOARGS, engine_start_doc},
    {"drain", engine_drain, METH_NOARGS, engine_drain_doc},
    {"limit_accepting", engine_limit_accepting, METH_O, engine_limit_accepting_doc},
    {"wait_idle", engine_wait_idle, METH_O, engine_wait_idle_doc},
    {"stats", engine_stats, METH_NOARGS, engine_stats_doc},
    {"destroy", engine_destroy, METH_NOARGS, engine_destroy_doc},
    {"drain_fd", engine_drain_fd, METH_NOARGS, engine_drain_fd_doc},
    {"close_connection", (PyCFunction)(void (*)(void))engine_close_connection, METH_FASTCALL,
     engine_close_connection_doc},
    {"park", (PyCFunction)(void (*)(void))engine_park, METH_FASTCALL, engine_park_doc},
    {"next_request", (PyCFunction)(void (*)(void))engine_next_request, METH_FASTCALL,
     engine_next_request_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef engine_getset[] = {
    {"draining", engine_get_draining, NULL,
     "True once a graceful stop began: answer with Connection: close.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(engine_type_doc,
"A handle on a process-wide I/O engine (its C thread accepts and parses\n"
"requests and puts them on a queue), shared by every interpreter.\n\n"
"Made by engine_create or engine_bind, never directly.");

static PyType_Slot engine_slots[] = {
    SS_HANDLE_SLOTS,
    {Py_tp_methods, engine_methods},
    {Py_tp_getset, engine_getset},
    {Py_tp_doc, (void *)engine_type_doc},
    {0, NULL},
};

static PyType_Spec engine_spec = {
    .name = "subserve._engine.Engine",
    .basicsize = sizeof(ss_handle),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = engine_slots,
};

/* ---- module functions ---- */

static int parse_fd_list(PyObject *list, int *fds, int max)
{
    PyObject *seq = PySequence_Fast(list, "listen_fds must be a sequence of ints");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > max) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "engine_create: between 1 and %d listening sockets", max);
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

PyDoc_STRVAR(engine_create_doc,
"engine_create($module, /, listen_fds, queue_id, keepalive=" SS_STR(SS_DEFAULT_KEEPALIVE)
", header_timeout=" SS_STR(SS_DEFAULT_HEADER_TIMEOUT)
", client_timeout=" SS_STR(SS_DEFAULT_CLIENT_TIMEOUT)
", max_line=" SS_STR(SS_DEFAULT_MAX_LINE) ", max_head=" SS_STR(SS_DEFAULT_MAX_HEAD)
", max_fields=" SS_STR(SS_DEFAULT_MAX_FIELDS) ", max_field=" SS_STR(SS_DEFAULT_MAX_FIELD)
", max_body=0)\n--\n\n"
"Create an engine serving the listening sockets listen_fds (it owns them\n"
"from now on) and putting requests on queue queue_id; return an Engine.\n"
"Timeouts in seconds; every default is its DEFAULT_* constant. A request\n"
"whose Content-Length exceeds max_body (0: no limit) is answered 413 and\n"
"closed. Call start() to begin accepting.");

static PyObject *engine_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"listen_fds", "queue_id", "keepalive", "header_timeout",
                             "client_timeout", "max_line", "max_head", "max_fields",
                             "max_field", "max_body", NULL};
    PyObject *fd_list;
    long long qid;
    double keepalive = SS_DEFAULT_KEEPALIVE, header_timeout = SS_DEFAULT_HEADER_TIMEOUT,
           client_timeout = SS_DEFAULT_CLIENT_TIMEOUT;
    Py_ssize_t max_line = SS_DEFAULT_MAX_LINE, max_head = SS_DEFAULT_MAX_HEAD,
               max_fields = SS_DEFAULT_MAX_FIELDS, max_field = SS_DEFAULT_MAX_FIELD;
    long long max_body = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OL|dddnnnnL:engine_create", kwlist,
                                     &fd_list, &qid, &keepalive, &header_timeout,
                                     &client_timeout, &max_line, &max_head, &max_fields,
                                     &max_field, &max_body))
        return NULL;
    if (max_fields < 1 || max_fields > SS_MAX_FIELDS_CAP || max_line < 16 || max_head < 64
        || max_field < 16 || max_body < 0)
        return PyErr_Format(PyExc_ValueError, "request limits out of range (max_fields <= %d, "
                            "max_body >= 0)", SS_MAX_FIELDS_CAP);
    int fds[SS_MAX_LISTENERS];
    int n = parse_fd_list(fd_list, fds, SS_MAX_LISTENERS);
    if (n < 0)
        return NULL;
    ss_engine_config cfg = {
        .queue_id = qid,
        .keepalive_ms = (int64_t)(keepalive * 1000),
        .header_timeout_ms = (int64_t)(header_timeout * 1000),
        .client_timeout_ms = (int64_t)(client_timeout * 1000),
        .max_body = max_body,
        .limits = {(size_t)max_line, (size_t)max_head, (size_t)max_fields, (size_t)max_field},
    };
    module_state *st = ss_module_state(module);
    ss_engine *e;
    int rc = ss_engine_create(fds, n, &cfg, &e);
    if (rc == SS_ERR_NOT_FOUND)
        return ss_raise(st, rc, "queue", qid, 0);
    if (rc != SS_OK)
        return ss_raise(st, rc, "engine", 0, 0);
    return ss_handle_new(st->engine_type, (ss_object *)e);
}

PyDoc_STRVAR(engine_bind_doc,
"engine_bind($module, eid, /)\n--\n\n"
"A new Engine handle on the open engine eid, made in any interpreter;\n"
"EngineError when there is none.");

static PyObject *engine_bind(PyObject *module, PyObject *arg)
{
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    module_state *st = ss_module_state(module);
    ss_engine *e = ss_engine_acquire(id);
    if (e == NULL)
        return ss_raise(st, SS_ERR_NOT_FOUND, "engine", id, 0);
    return ss_handle_new(st->engine_type, (ss_object *)e);
}

static PyMethodDef engine_functions[] = {
    {"engine_create", (PyCFunction)(void (*)(void))engine_create, METH_VARARGS | METH_KEYWORDS,
     engine_create_doc},
    {"engine_bind", engine_bind, METH_O, engine_bind_doc},
    {NULL, NULL, 0, NULL},
};

int ss_register_engine(PyObject *module, module_state *st)
{
    st->engine_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &engine_spec, NULL);
    if (st->engine_type == NULL || PyModule_AddType(module, st->engine_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, engine_functions);
}
