"""WSGI apps served by every server in the benchmark.

The servers import them as top-level modules (hello:app, cpu:app) with this
directory as the app directory, never the repo root: there, subserve's worker
interpreters would import the repo's subserve/ instead of the installed one.
The driver imports them as bench.apps.NAME, only to know the expected bodies.

Runs in: the server under test (for subserve: each worker interpreter).
Stdlib only, so they load in an OWN_GIL subinterpreter.
"""
