/* Python-facing functions implemented outside module.c, collected into the
 * method table there. All run in whichever interpreter calls them. */
#ifndef SUBSERVE_BINDINGS_H
#define SUBSERVE_BINDINGS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* parse_head(data, *, max_line=8190, max_head=65536, max_fields=100, max_field=8190)
 * -> 0 (incomplete) | -status | (head_len, method, target, minor, flags,
 *    content_length, [(name_lower, value), ...]) ; bytes throughout. */
PyObject *ss_py_parse_head(PyObject *module, PyObject *args, PyObject *kwargs);

#endif
