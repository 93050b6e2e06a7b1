/* A pool worker's interpreter (see interp.h). Touches Python: this is the
 * only file that creates and ends interpreters. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "interp.h"

#include <string.h>

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

/* Hand the pending exception, as text, to on_error. */
static void report_exception(ss_interp_error_fn on_error, void *arg)
{
    PyObject *text = format_exception();
    Py_ssize_t len = 0;
    const char *msg = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
    if (msg == NULL) {
        PyErr_Clear();
        msg = "worker failed; its error could not be formatted";
        len = (Py_ssize_t)strlen(msg);
    }
    on_error(arg, msg, (size_t)len);
    Py_XDECREF(text);
}

/* Run program in __main__; 0, or -1 with an exception set. */
static int run_program(const char *program, int64_t pool_id, int index)
{
    PyObject *main_mod = PyImport_AddModuleRef("__main__");
    if (main_mod == NULL)
        return -1;
    /* The program learns who it is from two globals: ids, not objects. */
    PyObject *globals = PyModule_GetDict(main_mod);
    PyObject *pid = PyLong_FromLongLong(pool_id);
    PyObject *idx = PyLong_FromLong(index);
    PyObject *result = NULL;
    if (pid && idx && PyDict_SetItemString(globals, "__pool_id__", pid) == 0
        && PyDict_SetItemString(globals, "__worker_index__", idx) == 0)
        result = PyRun_String(program, Py_file_input, globals, globals);
    Py_XDECREF(pid);
    Py_XDECREF(idx);
    Py_DECREF(main_mod);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

void ss_interp_run(const char *program, int64_t pool_id, int index,
                   ss_interp_error_fn on_error, void *arg)
{
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
        on_error(arg, msg, strlen(msg));
        return;
    }
    if (run_program(program, pool_id, index) < 0)
        report_exception(on_error, arg);
    /* Ends the interpreter's other threads' wait too: threading._shutdown.
     * On this thread, the one that created it, as CPython requires. */
    Py_EndInterpreter(tstate);
}
