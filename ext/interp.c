/* A pool worker's interpreter (see interp.h). Touches Python: this is the
 * only file that creates and ends interpreters, or enters main's from a
 * thread of the pool. */
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

/* Run program in globals; 0, or -1 with an exception set. */
static int run_program(PyObject *globals, const char *program, int64_t pool_id, int index)
{
    /* The program learns who it is from two globals: ids, not objects. */
    PyObject *pid = PyLong_FromLongLong(pool_id);
    PyObject *idx = PyLong_FromLong(index);
    PyObject *result = NULL;
    if (pid && idx && PyDict_SetItemString(globals, "__pool_id__", pid) == 0
        && PyDict_SetItemString(globals, "__worker_index__", idx) == 0)
        result = PyRun_String(program, Py_file_input, globals, globals);
    Py_XDECREF(pid);
    Py_XDECREF(idx);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* A new interpreter's __main__ is the worker's own. */
static int run_in_main_module(const char *program, int64_t pool_id, int index)
{
    PyObject *main_mod = PyImport_AddModuleRef("__main__");
    if (main_mod == NULL)
        return -1;
    int rc = run_program(PyModule_GetDict(main_mod), program, pool_id, index);
    Py_DECREF(main_mod);
    return rc;
}

/* In the main interpreter, __main__ is the user's (python -m subserve):
 * the program gets a namespace of its own. */
static int run_in_fresh_namespace(const char *program, int64_t pool_id, int index)
{
    PyObject *globals = PyDict_New();
    PyObject *name = PyUnicode_FromString("__subserve_worker__");
    int rc = -1;
    if (globals != NULL && name != NULL
        && PyDict_SetItemString(globals, "__name__", name) == 0
        && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
        rc = run_program(globals, program, pool_id, index);
    Py_XDECREF(name);
    Py_XDECREF(globals);
    return rc;
}

/* A thread of the pool entering the main interpreter: a thread state of
 * its own there (never PyGILState_*, which assumes one interpreter), the
 * main interpreter's GIL taken and dropped around it. */
static void run_in_main_interpreter(const char *program, int64_t pool_id, int index,
                                    ss_interp_error_fn on_error, void *arg)
{
    PyThreadState *tstate = PyThreadState_New(PyInterpreterState_Main());
    if (tstate == NULL) {
        const char *msg = "PyThreadState_New failed in the main interpreter";
        on_error(arg, msg, strlen(msg));
        return;
    }
    PyEval_RestoreThread(tstate);
    if (run_in_fresh_namespace(program, pool_id, index) < 0)
        report_exception(on_error, arg);
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent();   /* drops the GIL too */
}

void ss_interp_run(ss_interp_where where, const char *program, int64_t pool_id, int index,
                   ss_interp_error_fn on_error, void *arg)
{
    if (where == SS_IN_MAIN_INTERPRETER) {
        run_in_main_interpreter(program, pool_id, index, on_error, arg);
        return;
    }
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
    if (run_in_main_module(program, pool_id, index) < 0)
        report_exception(on_error, arg);
    /* Ends the interpreter's other threads' wait too: threading._shutdown.
     * On this thread, the one that created it, as CPython requires. */
    Py_EndInterpreter(tstate);
}
