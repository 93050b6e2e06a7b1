/* parse_head(): the request-head parser exposed to Python, for tests and for
 * worker code that parses pipelined heads. Runs in whichever interpreter
 * calls it; keeps no state between calls. */
#define PY_SSIZE_T_CLEAN
#include "bindings.h"
#include "http_parse.h"

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

PyObject *ss_py_parse_head(PyObject *module, PyObject *args, PyObject *kwargs)
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
