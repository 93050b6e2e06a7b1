/* subserve._engine: the Python face of the C engine. Touches Python.
 *
 * Loaded in the main interpreter and in every worker subinterpreter
 * (multi-phase init, per-module state, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED).
 * Process-wide objects (queues, pools, engines) live in C registries and are
 * named by integer ids, so only ints and bytes cross interpreters; each
 * interpreter reaches them through handles (py_queue.c, py_engine.c,
 * py_pool.c) holding a counted reference. This file has the module state,
 * ss_raise (the one place error codes become exceptions), the module's
 * init and constants, and the two stateless functions send_all and
 * parse_head. Every blocking call releases the calling interpreter's GIL. */
#include "module.h"

#include <errno.h>
#include <stdio.h>
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

/* ---- what every handle shares ---- */

PyObject *ss_handle_new(PyTypeObject *tp, ss_object *obj)
{
    ss_handle *self = PyObject_New(ss_handle, tp);
    if (self == NULL) {
        ss_object_decref(obj);
        return NULL;
    }
    self->obj = obj;
    self->id = obj->id;
    return (PyObject *)self;
}

void ss_handle_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    ss_object_decref(SS_HANDLE_OBJECT(self));
    tp->tp_free(self);
    Py_DECREF(tp);   /* a heap type: each instance holds a reference on it */
}

PyObject *ss_handle_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<%s %lld>", Py_TYPE(self)->tp_name,
                                (long long)((ss_handle *)self)->id);
}

PyObject *ss_handle_raise(PyObject *self, int code, int64_t detail)
{
    ss_handle *h = (ss_handle *)self;
    return ss_raise(ss_handle_state(self), code, h->obj->kind, h->id, detail);
}

PyMemberDef ss_handle_members[] = {
    {"id", Py_T_LONGLONG, offsetof(ss_handle, id), Py_READONLY,
     "The object's process-wide id, never reused: pass it to queue_bind,\n"
     "engine_bind or pool_bind in another interpreter."},
    {NULL, 0, 0, 0, NULL},
};

/* ---- errors ---- */

/* OSError (of the subclass errno maps to), its text naming the object. */
static PyObject *raise_errno(int err, const char *name)
{
    if (name == NULL) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *text = PyUnicode_FromFormat("%s: %s", name, strerror(err));
    /* OSError(errno, text) picks the subclass (ConnectionResetError...). */
    PyObject *exc = text ? PyObject_CallFunction(PyExc_OSError, "iO", err, text) : NULL;
    if (exc != NULL)
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_XDECREF(exc);
    Py_XDECREF(text);
    return NULL;
}

PyObject *ss_raise(module_state *st, int code, const char *kind, int64_t id, int64_t detail)
{
    char name[64];
    if (kind == NULL)
        snprintf(name, sizeof(name), "subserve._engine");
    else if (id != 0)
        snprintf(name, sizeof(name), "%s %lld", kind, (long long)id);
    else
        snprintf(name, sizeof(name), "%s", kind);
    long long n = (long long)detail;
    int is_queue = kind != NULL && strcmp(kind, "queue") == 0;
    if (SS_IS_ERRNO(code))
        return raise_errno(-code, kind ? name : NULL);
    switch (code) {
    case SS_ERR_NOMEM: return PyErr_NoMemory();
    case SS_ERR_NOT_FOUND: return PyErr_Format(st->error, "no such %s", name);
    case SS_ERR_CLOSED:
        return PyErr_Format(is_queue ? st->queue_closed : st->error, "%s is closed", name);
    case SS_ERR_QUEUE_EMPTY: return PyErr_Format(st->queue_empty, "%s is empty", name);
    case SS_ERR_QUEUE_FULL: return PyErr_Format(st->queue_full, "%s is full", name);
    case SS_ERR_BAD_FD:
        return PyErr_Format(st->error, "%s: fd %lld is not a connection a worker owns", name, n);
    case SS_ERR_STARTED: return PyErr_Format(st->error, "%s is already started", name);
    case SS_ERR_RUNNING:
        return PyErr_Format(st->error, "%s: %lld worker thread(s) still running; join them first",
                            name, n);
    case SS_ERR_BAD_GROUP:
        return PyErr_Format(PyExc_ValueError, "%s has no consumer group %lld", name, n);
    case SS_ERR_BAD_INDEX: return PyErr_Format(PyExc_ValueError, "%s has no worker %lld", name, n);
    case SS_ERR_BAD_ARG: return PyErr_Format(PyExc_ValueError, "%s: argument out of range", name);
    default: return PyErr_Format(st->error, "%s: unexpected error code %d", name, code);
    }
}

/* ---- helpers for the handle types ---- */

int ss_timeout_arg(PyObject *arg, int none_ok, int64_t *ms)
{
    if (none_ok && arg == Py_None) {
        *ms = -1;
        return 0;
    }
    double secs = PyFloat_AsDouble(arg);
    if (secs == -1.0 && PyErr_Occurred())
        return -1;
    *ms = secs <= 0 ? 0 : (int64_t)(secs * 1000.0);
    return 0;
}

int ss_keywords(const char *fname, PyObject *kwnames, PyObject *const *kwvalues,
                const char *const *names, PyObject **values)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        while (names[i] != NULL && !PyUnicode_EqualToUTF8(key, names[i]))
            i++;
        if (names[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, key);
            return -1;
        }
        if (values[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[i]);
            return -1;
        }
        values[i] = kwvalues[k];
    }
    return 0;
}

/* ---- socket output ---- */

PyDoc_STRVAR(send_all_doc,
"send_all($module, fd, /, *buffers)\n--\n\n"
"Gather-send every byte of buffers on the blocking socket fd.\n\n"
"What the socket takes at once is sent with the GIL held, the rest with it\n"
"released. OSError when the client is gone or its SO_SNDTIMEO expires.");

static PyObject *py_send_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1)
        return PyErr_Format(PyExc_TypeError, "send_all() missing required argument 'fd'");
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
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_raise(ss_module_state(module), rc, NULL, 0, 0);
}


/* ---- the parser, for tests and the corpus; keeps no state between calls ---- */

PyDoc_STRVAR(parse_head_doc,
"parse_head($module, /, data, *, max_line=" SS_STR(SS_DEFAULT_MAX_LINE)
", max_head=" SS_STR(SS_DEFAULT_MAX_HEAD) ", max_fields=" SS_STR(SS_DEFAULT_MAX_FIELDS)
", max_field=" SS_STR(SS_DEFAULT_MAX_FIELD) ")\n--\n\n"
"Parse one request head with the engine's parser and limits.\n\n"
"0: incomplete; -status: refused (400, 413, 414, 431, 501, 505); else\n"
"(head_len, method, target, minor, flags, content_length,\n"
" [(name_lower, value), ...]), bytes throughout.");

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

/* interrupt_thread(ident, exc): raise the exception class exc inside the
 * thread ident of this interpreter at its next bytecode, or clear what is
 * pending there when exc is None. The watchdog of --timeout uses it; it is
 * CPython's PyThreadState_SetAsyncExc, which ctypes would reach too, but
 * ctypes is not ours to rely on in an OWN_GIL interpreter. */
static PyObject *py_interrupt_thread(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "interrupt_thread(ident, exc) takes 2 arguments");
        return NULL;
    }
    unsigned long ident = PyLong_AsUnsignedLong(args[0]);
    if (ident == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    PyObject *exc = args[1] == Py_None ? NULL : args[1];
    if (exc != NULL && !(PyType_Check(exc) && PyType_IsSubtype((PyTypeObject *)exc,
                                                               (PyTypeObject *)PyExc_BaseException))) {
        PyErr_SetString(PyExc_TypeError, "interrupt_thread: exc must be an exception class or None");
        return NULL;
    }
    return PyLong_FromLong((long)PyThreadState_SetAsyncExc(ident, exc));
}
PyDoc_STRVAR(interrupt_thread_doc,
"interrupt_thread($module, ident, exc, /)\n--\n\n"
"Raise the exception class exc in this interpreter's thread ident at its next\n"
"bytecode (None: clear what is pending); the number of threads changed.");


/* ---- module ---- */

static PyMethodDef methods[] = {
    {"send_all", (PyCFunction)(void (*)(void))py_send_all, METH_FASTCALL, send_all_doc},
    {"interrupt_thread", (PyCFunction)(void (*)(void))py_interrupt_thread, METH_FASTCALL,
     interrupt_thread_doc},
    {"parse_head", (PyCFunction)(void (*)(void))py_parse_head, METH_VARARGS | METH_KEYWORDS,
     parse_head_doc},
    {NULL, NULL, 0, NULL},
};

static int add_exception(PyObject *module, PyObject **slot, const char *name, const char *doc,
                         PyObject *base)
{
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
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
    module_state *st = ss_module_state(module);
    if (add_exception(module, &st->error, "subserve._engine.EngineError",
                      "An engine object is unknown, closed or misused; the message names it.",
                      PyExc_RuntimeError) < 0
        || add_exception(module, &st->queue_closed, "subserve._engine.QueueClosed",
                         "The queue was destroyed (also raised in callers blocked on it).",
                         st->error) < 0
        || add_exception(module, &st->queue_empty, "subserve._engine.QueueEmpty",
                         "Nothing to get: get_nowait, or get's timeout expired.", st->error) < 0
        || add_exception(module, &st->queue_full, "subserve._engine.QueueFull",
                         "No room for a non-blocking put.", st->error) < 0)
        return -1;
    if (ss_register_queue(module, st) < 0 || ss_register_engine(module, st) < 0
        || ss_register_pool(module, st) < 0)
        return -1;
    return add_constants(module);
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *st = ss_module_state(module);
    Py_VISIT(st->error);
    Py_VISIT(st->queue_closed);
    Py_VISIT(st->queue_empty);
    Py_VISIT(st->queue_full);
    Py_VISIT(st->queue_type);
    Py_VISIT(st->engine_type);
    Py_VISIT(st->pool_type);
    return 0;
}

static int module_clear(PyObject *module)
{
    module_state *st = ss_module_state(module);
    Py_CLEAR(st->error);
    Py_CLEAR(st->queue_closed);
    Py_CLEAR(st->queue_empty);
    Py_CLEAR(st->queue_full);
    Py_CLEAR(st->queue_type);
    Py_CLEAR(st->engine_type);
    Py_CLEAR(st->pool_type);
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
    .m_doc = "subserve's C engine: request queue, interpreter pool, I/O thread, HTTP parser.\n\n"
             "Queues, engines and pools are process-wide; each interpreter holds\n"
             "Queue, Engine and Pool handles (queue_create/queue_bind, ...), and\n"
             "passes their .id to other interpreters.",
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
