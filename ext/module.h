/* What module.c shares with the three handle types (py_queue.c,
 * py_engine.c, py_pool.c). Touches Python. */
#ifndef SUBSERVE_MODULE_H
#define SUBSERVE_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "object.h"
#include "queue.h"

/* A C constant as text, for the defaults in text signatures. */
#define SS_XSTR(x) #x
#define SS_STR(x) SS_XSTR(x)

/* Per module instance: one per interpreter that imported _engine. */
typedef struct {
    PyObject *error;            /* EngineError */
    PyObject *queue_closed;     /* QueueClosed(EngineError) */
    PyObject *queue_empty;      /* QueueEmpty(EngineError) */
    PyObject *queue_full;       /* QueueFull(EngineError) */
    PyTypeObject *queue_type;   /* Queue */
    PyTypeObject *engine_type;  /* Engine */
    PyTypeObject *pool_type;    /* Pool */
} module_state;

/* The one place an error code becomes an exception; returns NULL. kind and
 * id name the object concerned ("queue 7"; kind NULL: none, id 0: not
 * registered yet); detail is the number some codes report (an fd, a count,
 * a consumer group). */
PyObject *ss_raise(module_state *st, int code, const char *kind, int64_t id, int64_t detail);

static inline module_state *ss_module_state(PyObject *module)
{
    return (module_state *)PyModule_GetState(module);
}

/* The module state behind a handle: the handle types are not subclassable,
 * so an object's type is the type that was created with the module. */
static inline module_state *ss_handle_state(PyObject *self)
{
    return (module_state *)PyType_GetModuleState(Py_TYPE(self));
}

/* What the three handle types share: one counted reference on a
 * process-wide object (whose struct starts with its ss_object header),
 * released in dealloc, and the object's id. Queue, Engine and Pool add only
 * their methods. */
typedef struct {
    PyObject_HEAD
    ss_object *obj;
    int64_t id;
} ss_handle;

#define SS_HANDLE_OBJECT(self) (((ss_handle *)(self))->obj)

/* A new handle of type tp owning the reference obj (dropped on failure). */
PyObject *ss_handle_new(PyTypeObject *tp, ss_object *obj);
/* ss_raise for the handle's object: "queue 7 is closed". */
PyObject *ss_handle_raise(PyObject *self, int code, int64_t detail);
/* The slots every handle type lists: dealloc, repr, and the read-only id. */
#define SS_HANDLE_SLOTS \
    {Py_tp_dealloc, ss_handle_dealloc}, {Py_tp_repr, ss_handle_repr}, \
    {Py_tp_members, ss_handle_members}
void ss_handle_dealloc(PyObject *self);
PyObject *ss_handle_repr(PyObject *self);
extern PyMemberDef ss_handle_members[];

/* An item as the tuple (fd, flags, content_length, record, data); frees it. */
PyObject *ss_item_to_tuple(ss_item *it);

/* Seconds as a float (None, with none_ok: -1, for ever) into milliseconds;
 * -1 with an exception set when arg is not a number. */
int ss_timeout_arg(PyObject *arg, int none_ok, int64_t *ms);

/* Sort the keyword arguments of a METH_FASTCALL | METH_KEYWORDS call into
 * values[i] for names[i] (NULL-ended); an absent one is left as it was.
 * -1 with TypeError for a keyword not in names or given twice. */
int ss_keywords(const char *fname, PyObject *kwnames, PyObject *const *kwvalues,
                const char *const *names, PyObject **values);

/* From module exec: create each type in the module state, add it and the
 * module functions that create and bind its objects. */
int ss_register_queue(PyObject *module, module_state *st);
int ss_register_engine(PyObject *module, module_state *st);
int ss_register_pool(PyObject *module, module_state *st);

#endif
