/* The Pool handle type, and pool_start / pool_bind. Touches Python.
 *
 * A Pool holds one counted reference on a process-wide ss_pool, released in
 * its dealloc. Main starts the pool and waits on it; each worker binds it
 * from the __pool_id__ its program is given, to report. */
#include "module.h"

#include <stdlib.h>

#include "errors.h"
#include "pool.h"

#define SS_MAX_WORKERS 1024

#define POOL(self) ((ss_pool *)SS_HANDLE_OBJECT(self))


/* ---- methods ---- */

PyDoc_STRVAR(pool_report_doc,
"report($self, index, ok, message, /)\n--\n\n"
"From inside worker index: the app is loaded (ok; message: the interface it\n"
"serves) or failed (message: why).");

static PyObject *pool_report(PyObject *self, PyObject *args)
{
    int index, ok;
    const char *msg;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "ips#:report", &index, &ok, &msg, &len))
        return NULL;
    int rc = ss_pool_report(POOL(self), index, ok, msg, (size_t)len);
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_handle_raise(self, rc, index);
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
    return list;
}

PyDoc_STRVAR(pool_wait_doc,
"wait($self, timeout, /)\n--\n\n"
"Wait (GIL released) up to timeout seconds until every worker left\n"
"WORKER_STARTING or one failed or exited; return [(state, loaded, message)]\n"
"per worker.");

static PyObject *pool_wait(PyObject *self, PyObject *arg)
{
    int64_t ms;
    if (ss_timeout_arg(arg, 0, &ms) < 0)
        return NULL;
    int n = ss_pool_size(POOL(self));
    ss_worker_status *st = PyMem_RawCalloc((size_t)n, sizeof(*st));
    if (st == NULL)
        return PyErr_NoMemory();
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_pool_wait(POOL(self), ms, st, n);
    Py_END_ALLOW_THREADS
    PyObject *result = rc == SS_OK ? statuses_to_list(st, n) : ss_handle_raise(self, rc, 0);
    for (int i = 0; i < n; i++)
        free(st[i].message);   /* strdup'd by the C pool */
    PyMem_RawFree(st);
    return result;
}

PyDoc_STRVAR(pool_join_doc,
"join($self, timeout, /)\n--\n\n"
"Wait (GIL released) up to timeout seconds for every worker thread to end,\n"
"join those that did; return how many still run.");

static PyObject *pool_join(PyObject *self, PyObject *arg)
{
    int64_t ms;
    if (ss_timeout_arg(arg, 0, &ms) < 0)
        return NULL;
    int64_t running;
    Py_BEGIN_ALLOW_THREADS
    running = ss_pool_join(POOL(self), ms);
    Py_END_ALLOW_THREADS
    return running >= 0 ? PyLong_FromLongLong(running) : ss_handle_raise(self, (int)running, 0);
}

PyDoc_STRVAR(pool_destroy_doc,
"destroy($self, /)\n--\n\n"
"Drop the pool once every worker thread is joined; EngineError while some\n"
"still runs. Every later call raises EngineError.");

static PyObject *pool_destroy(PyObject *self, PyObject *unused)
{
    int running = 0;
    int rc = ss_pool_destroy(POOL(self), &running);
    return rc == SS_OK ? Py_NewRef(Py_None) : ss_handle_raise(self, rc, running);
}

static Py_ssize_t pool_len(PyObject *self)
{
    return ss_pool_size(POOL(self));
}

static PyMethodDef pool_methods[] = {
    {"report", pool_report, METH_VARARGS, pool_report_doc},
    {"wait", pool_wait, METH_O, pool_wait_doc},
    {"join", pool_join, METH_O, pool_join_doc},
    {"destroy", pool_destroy, METH_NOARGS, pool_destroy_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(pool_type_doc,
"A handle on a process-wide pool of worker threads, each running its own\n"
"OWN_GIL interpreter.\n\n"
"Made by pool_start or pool_bind, never directly. len() is the number of\n"
"workers.");

static PyType_Slot pool_slots[] = {
    SS_HANDLE_SLOTS,
    {Py_tp_methods, pool_methods},
    {Py_tp_doc, (void *)pool_type_doc},
    {Py_sq_length, pool_len},
    {0, NULL},
};

static PyType_Spec pool_spec = {
    .name = "subserve._engine.Pool",
    .basicsize = sizeof(ss_handle),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pool_slots,
};

/* ---- module functions ---- */

PyDoc_STRVAR(pool_start_doc,
"pool_start($module, program, n, /, *, main_interpreter=False)\n--\n\n"
"Start n worker threads, each running program (Python source) with\n"
"__pool_id__ and __worker_index__ set, and return a Pool. Each runs in a\n"
"new OWN_GIL interpreter's __main__, or with main_interpreter in a fresh\n"
"namespace of the main interpreter (the thread worker kind).");

static PyObject *pool_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"", "", "main_interpreter", NULL};
    const char *program;
    Py_ssize_t len;
    int n, in_main = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s#i|$p:pool_start", kwlist, &program, &len,
                                     &n, &in_main))
        return NULL;
    if (n < 1 || n > SS_MAX_WORKERS)
        return PyErr_Format(PyExc_ValueError, "pool_start: between 1 and %d workers",
                            SS_MAX_WORKERS);
    module_state *st = ss_module_state(module);
    ss_pool *p;
    int rc = ss_pool_start(program, (size_t)len, n,
                           in_main ? SS_IN_MAIN_INTERPRETER : SS_IN_OWN_INTERPRETER, &p);
    if (rc != SS_OK)
        return ss_raise(st, rc, "pool", 0, 0);
    return ss_handle_new(st->pool_type, (ss_object *)p);
}

PyDoc_STRVAR(pool_bind_doc,
"pool_bind($module, pid, /)\n--\n\n"
"A new Pool handle on the open pool pid, made in any interpreter;\n"
"EngineError when there is none.");

static PyObject *pool_bind(PyObject *module, PyObject *arg)
{
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    module_state *st = ss_module_state(module);
    ss_pool *p = ss_pool_acquire(id);
    if (p == NULL)
        return ss_raise(st, SS_ERR_NOT_FOUND, "pool", id, 0);
    return ss_handle_new(st->pool_type, (ss_object *)p);
}

static PyMethodDef pool_functions[] = {
    {"pool_start", (PyCFunction)(void (*)(void))pool_start, METH_VARARGS | METH_KEYWORDS,
     pool_start_doc},
    {"pool_bind", pool_bind, METH_O, pool_bind_doc},
    {NULL, NULL, 0, NULL},
};

int ss_register_pool(PyObject *module, module_state *st)
{
    st->pool_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &pool_spec, NULL);
    if (st->pool_type == NULL || PyModule_AddType(module, st->pool_type) < 0)
        return -1;
    return PyModule_AddFunctions(module, pool_functions);
}
