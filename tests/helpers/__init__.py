"""Shared test helpers, imported by test modules as ``helpers.*`` (never each other).

- ``items``: head records and queue items built as the C engine builds them;
- ``settings``: WorkerSettings from Config's defaults;
- ``server``: a real server subprocess, free ports, raw connections;
- ``http``: the one response reader (h11 as the reference client);
- ``conn``: a socketpair standing in for a connection to a handler;
- ``wsgi``: a WSGIHandler as a worker builds it, and small apps;
- ``logs``: a logging handler that keeps its records.

Runs in: the test process.
"""
