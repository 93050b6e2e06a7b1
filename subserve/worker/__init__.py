"""A worker's life: boot in a fresh interpreter, load the app, report, dispatch.

Runs in: worker interpreters. ``bootstrap`` is the entry point the pool's
program calls; it hands the app to the ``wsgi`` or ``asgi`` adapter. Never
imported by the supervisor.
"""
