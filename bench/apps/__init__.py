"""Apps served by every server in the benchmark.

Stdlib WSGI apps (hello, big, cpu, sleep), their ASGI counterparts
(asgi_apps), and two small framework apps (flask_app, django_app) sharing
templates/page.html. The servers import them as top-level modules (hello:app)
with this directory as the app directory, never the repo root: there,
subserve's worker interpreters would import the repo's subserve/ instead of
the installed one. The driver imports the stdlib ones as bench.apps.NAME,
only to know the expected bodies.

Runs in: the server under test (for subserve: each worker interpreter).
The stdlib apps load in any OWN_GIL subinterpreter; Flask and Django do too
(their `_datetime` import is handled by subserve).
"""
