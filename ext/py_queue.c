/* The Queue handle type, and queue_create / queue_bind. Touches Python.
 *
 * A Queue holds one counted reference on a process-wide ss_queue, released
 * in its dealloc; .id names the queue to other interpreters, which bind
 * their own handle. After destroy every call raises QueueClosed. */
#include "module.h"


#include "errors.h"
#include "queue.h"

#define QUEUE(self) ((ss_queue *)SS_HANDLE_OBJECT(self))


PyObject *ss_item_to_tuple(ss_item *it)
{
    PyObject *t = Py_BuildValue("(iIL y# y#)", it->fd, it->flags, (long long)it->content_length,
                                ss_item_record(it), (Py_ssize_t)it->record_len,
                                ss_item_data(it), (Py_ssize_t)it->data_len);
    ss_item_free(it);
    return t;
}

/* ---- methods ---- */

PyDoc_STRVAR(queue_put_doc,
"put($self, /, fd, flags, content_length, record, data, block=True)\n--\n\n"
"Put an item. With block, wait (GIL released) while the queue is full;\n"
"without, raise QueueFull.");

static PyObject *queue_put(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fd", "flags", "content_length", "record", "data", "block", NULL};
    long long clen;
    int fd, block = 1;
    unsigned int flags;
    Py_buffer record, data;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iILy*y*|p:put", kwlist,
                                     &fd, &flags, &clen, &record, &data, &block))
        return NULL;
    ss_item *it = ss_item_new(fd, flags, clen, record.buf, (size_t)record.len,
                              data.buf, (size_t)data.len);
    PyBuffer_Release(&record);
    PyBuffer_Release(&data);
    if (it == NULL)
        return PyErr_NoMemory();
    int rc;
    if (block) {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_queue_put(QUEUE(self), it, 1);
        Py_END_ALLOW_THREADS
    } else {
        rc = ss_queue_put(QUEUE(self), it, 0);   /* never waits */
    }
    if (rc != SS_OK) {
        ss_item_free(it);
        return ss_handle_raise(self, rc, 0);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(queue_put_stop_doc,
"put_stop($self, count, /)\n--\n\n"
"Put count stop items (fd STOP_FD): each ends one worker thread that takes\n"
"it. Waits for room with the GIL released.");

static PyObject *queue_put_stop(PyObject *self, PyObject *arg)
{
    int count = PyLong_AsInt(arg);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    if (count < 0)
        return PyErr_Format(PyExc_ValueError, "put_stop: count must be >= 0");
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_queue_put_stop(QUEUE(self), count);
    Py_END_ALLOW_THREADS
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_handle_raise(self, rc, 0);
}

static PyObject *get_impl(PyObject *self, int block, int64_t timeout_ms, PyObject *group_arg)
{
    int group = 0;
    if (group_arg != NULL && (group = PyLong_AsInt(group_arg)) == -1 && PyErr_Occurred())
        return NULL;
    ss_item *it = NULL;
    int rc;
    if (block) {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_queue_get(QUEUE(self), &it, 1, timeout_ms, group);
        Py_END_ALLOW_THREADS
    } else {
        /* No wait, only the queue mutex: keeping the GIL spares the threads
         * of this interpreter a hand-off per request. */
        rc = ss_queue_get(QUEUE(self), &it, 0, 0, group);
    }
    return rc == SS_OK ? ss_item_to_tuple(it) : ss_handle_raise(self, rc, group);
}

PyDoc_STRVAR(queue_get_doc,
"get($self, /, timeout=None, *, group=0)\n--\n\n"
"Take the next item (fd, flags, content_length, record, data), waiting\n"
"with the GIL released; QueueEmpty when timeout (seconds) expires.\n\n"
"group is the caller's consumer group, its interpreter's index: a put\n"
"wakes a waiter of the group with the fewest threads running.");

static PyObject *queue_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static const char *const names[] = {"timeout", "group", NULL};
    PyObject *values[2] = {NULL, NULL};
    if (nargs > 1)
        return PyErr_Format(PyExc_TypeError, "get() takes at most 1 positional argument");
    if (nargs == 1)
        values[0] = args[0];
    if (kwnames != NULL && ss_keywords("get", kwnames, args + nargs, names, values) < 0)
        return NULL;
    int64_t timeout_ms = -1;
    if (values[0] != NULL && ss_timeout_arg(values[0], 1, &timeout_ms) < 0)
        return NULL;
    return get_impl(self, 1, timeout_ms, values[1]);
}

PyDoc_STRVAR(queue_get_nowait_doc,
"get_nowait($self, /, *, group=0)\n--\n\n"
"Take the next item without waiting (GIL held); QueueEmpty when there is none.");

static PyObject *queue_get_nowait(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    static const char *const names[] = {"group", NULL};
    PyObject *values[1] = {NULL};
    if (nargs > 0)
        return PyErr_Format(PyExc_TypeError, "get_nowait() takes no positional arguments");
    if (kwnames != NULL && ss_keywords("get_nowait", kwnames, args, names, values) < 0)
        return NULL;
    return get_impl(self, 0, 0, values[0]);
}

static Py_ssize_t queue_len(PyObject *self)
{
    size_t n;
    int rc = ss_queue_len(QUEUE(self), &n);
    if (rc != SS_OK) {
        ss_handle_raise(self, rc, 0);
        return -1;
    }
    return (Py_ssize_t)n;
}

PyDoc_STRVAR(queue_wakeup_fd_doc,
"wakeup_fd($self, /)\n--\n\n"
"An eventfd, created on first use, signalled when a put finds the queue\n"
"empty; for event loops. The queue owns it: never close it.");

static PyObject *queue_wakeup_fd(PyObject *self, PyObject *unused)
{
    int fd = ss_queue_wakeup_fd(QUEUE(self));
    return fd >= 0 ? PyLong_FromLong(fd) : ss_handle_raise(self, fd, 0);
}

PyDoc_STRVAR(queue_destroy_doc,
"destroy($self, /)\n--\n\n"
"Close the queue: blocked getters and putters wake with QueueClosed, its id\n"
"is no longer bound, and every handle's later calls raise QueueClosed. The\n"
"memory goes with the last handle.");

static PyObject *queue_destroy(PyObject *self, PyObject *unused)
{
    int rc = ss_queue_destroy(QUEUE(self));
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_handle_raise(self, rc, 0);
}

static PyMethodDef queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_VARARGS | METH_KEYWORDS, queue_put_doc},
    {"put_stop", queue_put_stop, METH_O, queue_put_stop_doc},
    {"get", (PyCFunction)(void (*)(void))queue_get, METH_FASTCALL | METH_KEYWORDS, queue_get_doc},
    {"get_nowait", (PyCFunction)(void (*)(void))queue_get_nowait, METH_FASTCALL | METH_KEYWORDS,
     queue_get_nowait_doc},
    {"wakeup_fd", queue_wakeup_fd, METH_NOARGS, queue_wakeup_fd_doc},
    {"destroy", queue_destroy, METH_NOARGS, queue_destroy_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(queue_type_doc,
"A handle on a process-wide request queue, shared by every interpreter.\n\n"
"Made by queue_create or queue_bind, never directly. len() is the number\n"
"of items waiting.");

static PyType_Slot queue_slots[] = {
    SS_HANDLE_SLOTS,
    {Py_tp_methods, queue_methods},
    {Py_tp_doc, (void *)queue_type_doc},
    {Py_sq_length, queue_len},
    {0, NULL},
};

static PyType_Spec queue_spec = {
    .name = "subserve._engine.Queue",
    .basicsize = sizeof(ss_handle),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = queue_slots,
};

/* ---- module functions ---- */

PyDoc_STRVAR(queue_create_doc,
"queue_create($module, /, capacity, groups=1)\n--\n\n"
"Create a queue of at most capacity items and return a Queue.\n\n"
"groups: consumer groups, one per worker interpreter (see Queue.get).");

static PyObject *queue_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"capacity", "groups", NULL};
    Py_ssize_t capacity;
    int groups = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|i:queue_create", kwlist, &capacity, &groups))
        return NULL;
    if (capacity < 1)
        return PyErr_Format(PyExc_ValueError, "queue_create: capacity must be >= 1");
    if (groups < 1 || groups > SS_QUEUE_MAX_GROUPS)
        return PyErr_Format(PyExc_ValueError, "queue_create: between 1 and %d groups",
                            SS_QUEUE_MAX_GROUPS);
    module_state *st = ss_module_state(module);
    ss_queue *q;
    int rc = ss_queue_create((size_t)capacity, groups, &q);
    if (rc != SS_OK)
        return ss_raise(st, rc, "queue", 0, 0);
    return ss_handle_new(st->queue_type, (ss_object *)q);
}

PyDoc_STRVAR(queue_bind_doc,
"queue_bind($module, qid, /)\n--\n\n"
"A new Queue handle on the open queue qid, made in any interpreter;\n"
"EngineError when there is none.");

static PyObject *queue_bind(PyObject *module, PyObject *arg)
{
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    module_state *st = ss_module_state(module);
    ss_queue *q = ss_queue_acquire(id);
    if (q == NULL)
        return ss_raise(st, SS_ERR_NOT_FOUND, "queue", id, 0);
    return ss_handle_new(st->queue_type, (ss_object *)q);
}

static PyMethodDef queue_functions[] = {
    {"queue_create", (PyCFunction)(void (*)(void))queue_create, METH_VARARGS | METH_KEYWORDS,
     queue_create_doc},
    {"queue_bind", queue_bind, METH_O, queue_bind_doc},
    {NULL, NULL, 0, NULL},
};

int ss_register_queue(PyObject *module, module_state *st)
{
    st->queue_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &queue_spec, NULL);
    if (st->queue_type == NULL || PyModule_AddType(module, st->queue_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, queue_functions);
}
